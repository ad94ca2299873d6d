"""dltool.tune.results and plots: trials.csv, best.yaml's command, the plots, and the printed summary."""

from __future__ import annotations

import pytest
import yaml

from dltool.tune import run_study
from tests.tune.common import options, trial_states


@pytest.fixture(scope="module")
def coarse_to_fine(tmp_path_factory):
    """A study of the mlp space, its choices narrowed in the fine stage (model.hidden[fine] in Optuna)."""
    tmp_path = tmp_path_factory.mktemp("study")
    summary = run_study(options(tmp_path, "search=mlp", "trainer.max_epochs=2", name="m", stages="coarse:6,fine:3"))
    return tmp_path / "runs" / "m", summary


def test_the_ready_command_gives_the_trials_exact_values_and_its_dev_error(coarse_to_fine, tmp_path):
    """best.yaml's command parses back (Hydra's parser) to exactly the trial's values, and trains to its dev error."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from tests.conftest import invoke

    folder, summary = coarse_to_fine
    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best["command"] == summary["best"]["command"] and best["overrides"] == summary["best"]["params"]
    words = best["command"].split()
    assert words[:2] == ["dltool", "train"]
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(words[2:])}
    for key, value in best["overrides"].items():
        assert parsed[key] == value and type(parsed[key]) is type(value), key  # exactly: 0.0058032199..., not 0.00580322
    assert any(isinstance(v, float) and len(repr(v)) > 8 for v in best["overrides"].values())  # where 6 digits lose
    result = invoke(*words[1:], "--runs-dir", tmp_path, "--name", "again", "--json")
    assert result.exit_code == 0, result.stderr
    import json

    assert json.loads(result.stdout)["splits"]["dev"]["error"] == best["dev_error"] == summary["best"]["value"]


def test_trials_csv_has_one_exact_column_per_searched_key(coarse_to_fine):
    import optuna

    folder, _ = coarse_to_fine
    study = optuna.load_study(study_name="m", storage=f"sqlite:///{folder / 'study.db'}")
    names = {name for t in study.trials for name in t.params}
    assert "model.hidden[fine]" in names or "trainer.batch_size[fine]" in names  # Optuna's names for narrowed choices
    rows = trial_states(folder)
    keys = ["optimizer.lr", "optimizer.beta1", "optimizer.weight_decay", "model.hidden", "model.keep_prob",
            "trainer.batch_size"]
    assert [c for c in rows[0] if "." in c] == keys
    for row, t in zip(rows, study.trials):
        assert float(row["optimizer.lr"]) == t.user_attrs["overrides"]["optimizer.lr"]  # exact, not rounded


def texts(fig) -> list[str]:
    found = []
    for ax in fig.axes:
        found += [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        found += [ax.get_xlabel(), ax.get_ylabel()]
    return [t for t in found if t]


def test_the_plots_show_each_parameter_once_with_its_values(coarse_to_fine):
    """A narrowed choice is one parameter (no model.hidden[fine], no None ticks); list choices are labelled."""
    from dltool.config import compose
    from dltool.search import load_space
    from dltool.tune import plots

    folder, _ = coarse_to_fine
    assert {p.name for p in (folder / "plots").iterdir()} == {"history.png", "parallel_coordinate.png", "slice.png",
                                                             "importances.png"}
    import optuna

    study = optuna.load_study(study_name="m", storage=f"sqlite:///{folder / 'study.db'}")
    done = [{"number": t.number, "value": t.value, "values": t.user_attrs["overrides"], "stage": t.user_attrs["stage"]}
            for t in study.trials if t.state.name == "COMPLETE"]
    space = load_space("mlp", compose(["data=digits"]))
    axes = [plots._Axis(q, [t["values"][q.key] for t in done]) for q in space]
    parallel = texts(plots._parallel(axes, done))
    keys = [q.key for q in space]
    assert [t for t in parallel if "\n" in t] == [k.replace(".", "\n", 1) for k in keys]  # one axis a key, in order
    assert "[256,256]" in parallel and "[100,100]" in parallel and "0.999" in parallel  # choices and 1 - beta ticks
    assert not any("None" in t or "[fine]" in t or "1-" in t for t in parallel)
    slices = texts(plots._slice(axes, done))
    assert [t for t in slices if t in keys] == keys
    importances = texts(plots._importances(axes, done))
    assert sorted(t for t in importances if t in keys) == sorted(keys) and not any("[" in t for t in importances)
    # trials that all score alike (a small dev set, a budget too short to learn) leave fANOVA nothing to apportion:
    # no importances plot, and the rest are drawn (optuna raises "zero total variance" on them)
    alike = [{**t, "value": 0.5} for t in done]
    assert plots._importances(axes, alike) is None and plots._slice(axes, alike) is not None


def test_the_parallel_coordinate_axis_ticks_sit_on_their_own_scale():
    """Worked by hand: log10 for a rate, -log10(1 - beta) for beta1, the choices' index."""
    from dltool.search import parse_param
    from dltool.tune.plots import _Axis

    lr = _Axis(parse_param("optimizer.lr", {"low": 1e-4, "high": 1e-1, "scale": "log"}), [1e-3])
    assert (lr.lo, lr.hi) == (-4, -1) and lr.unit(1e-3) == pytest.approx(1 / 3)
    assert [t for _, t in lr.ticks()] == ["0.0001", "0.001", "0.01", "0.1"]
    beta = _Axis(parse_param("optimizer.beta1", {"low": 0.9, "high": 0.999, "scale": "log1m"}), [0.99])
    assert beta.unit(0.99) == pytest.approx(0.5) and [t for _, t in beta.ticks()] == ["0.9", "0.99", "0.999"]
    hidden = _Axis(parse_param("model.hidden", {"choices": [[64], [100, 100]]}), [[100, 100]])
    assert hidden.unit([100, 100]) == 1.0 and [t for _, t in hidden.ticks()] == ["[64]", "[100,100]"]


def test_print_study_keeps_what_is_copied_whole_at_80_columns(monkeypatch, capsys):
    from dltool.report import print_study

    monkeypatch.setenv("COLUMNS", "80")
    storage = "postgresql://tuner:***@database.example.org:5432/dltool_studies?sslmode=verify-full&application_name=x"
    command = ("dltool train data=digits trainer.max_epochs=3 optimizer.lr=0.0058032199200988945 "
               "optimizer.beta1=0.9433793217920404 model.hidden=[256,256] trainer.batch_size=64")
    run = "/a/long/path/to/the/runs/folder/of/this/machine/tuning-study-with-a-long-name/best-trial-0008"
    print_study({"study": "tuning-study-with-a-long-name", "storage": storage, "n_trials": 12,
                 "stages": [{"name": "coarse", "n_trials": 8, "ranges": {"optimizer.lr": [1e-4, 0.1],
                                                                           "model.hidden": [[64], [256, 256]]}}],
                 "infeasible": [], "best": {"value": 0.0259, "params": {}, "run": run, "trial": 8,
                                            "test_error": 0.0556, "command": command}})
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert command in lines  # on a line of its own, whole
    assert any(line.endswith(storage) for line in lines) and any(line.endswith(run) for line in lines)
    assert lines[1].strip() == "stages"  # the table's title: one line
    assert "[64], [256,256]" in out  # ranges are text, not markup
