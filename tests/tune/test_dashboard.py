"""A study as optuna-dashboard sees it, through its own WSGI app and HTTP API (``/api/studies/<id>``): the objective
named dev_error, each trial's train / train-dev / dev error as sortable scalar user attributes, and its per-epoch dev
error as intermediate values, in a study without a pruner too (within its time budget, dltool.tune.trials.REPORT_SHARE).
The app is called as a WSGI server calls it."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from dltool.tune import run_study
from tests.tune.common import options, space

TINY = ["data=synthetic", "data.shape=[8]", "data.n=400", "model.hidden=[16]", "trainer.baseline=false",
        "trainer.max_epochs=3"]


def get(app, path: str) -> dict:
    """GET ``path`` from a WSGI app, as a server would call it (no test client needed), and its JSON."""
    from wsgiref.util import setup_testing_defaults

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status == ["200 OK"], (status, body[:200])
    return json.loads(body)


def study(tmp_path, choices: str, name: str) -> dict:
    """A grid study of tiny trials (no pruner), and its detail as optuna-dashboard's API serves it."""
    from optuna_dashboard import wsgi

    search = space(tmp_path, f"params:\n  optimizer.lr: {{choices: {choices}}}\n")
    opts = options(tmp_path, search, name=name, sampler="grid", retrain_best=False)
    opts.overrides = [*TINY, search]  # not the digits of FAST: a few hundred vectors
    run_study(opts)
    app = wsgi(f"sqlite:///{tmp_path / 'runs' / name / 'study.db'}")
    (summary,) = get(app, "/api/studies")["study_summaries"]
    return get(app, f"/api/studies/{summary['study_id']}")


def history(trial) -> list[tuple[int, float]]:
    """A trial's (epoch, dev error) from its run's history.csv."""
    attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
    with (Path(json.loads(attrs["result"])["run"]) / "history.csv").open(newline="") as f:
        return [(int(r["epoch"]), float(r["dev_error"])) for r in csv.DictReader(f)]


def test_optuna_dashboard_shows_the_metric_the_split_errors_and_the_curves(tmp_path, monkeypatch):
    monkeypatch.setattr("dltool.tune.trials.REPORT_SHARE", math.inf)  # every epoch, as epochs of 0.25 s and more get
    detail = study(tmp_path, "[0.01, 0.1]", "d")
    assert detail["objective_names"] == ["dev_error"]
    assert detail["has_intermediate_values"] is True
    sortable = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
    assert all(sortable[k] for k in ("train_error", "train_dev_error", "dev_error"))
    assert len(detail["trials"]) == 2
    for trial in detail["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        run = Path(json.loads(attrs["result"])["run"])
        metrics = json.loads((run / "metrics.json").read_text())
        for split in ("train", "train_dev", "dev"):
            assert float(attrs[f"{split}_error"]) == metrics["splits"][split]["error"]
        assert trial["values"] == [metrics["splits"]["dev"]["error"]]
        assert [(v["step"], v["value"]) for v in trial["intermediate_values"]] == history(trial)


def test_fast_epochs_report_within_their_budget_the_first_and_last_always(tmp_path, monkeypatch):
    """REPORT_SHARE 0 (any report over budget): the curve keeps its ends, epochs 1 and 3."""
    monkeypatch.setattr("dltool.tune.trials.REPORT_SHARE", 0.0)
    (trial,) = study(tmp_path, "[0.1]", "b")["trials"]
    epochs = history(trial)
    assert len(epochs) == 3
    assert [(v["step"], v["value"]) for v in trial["intermediate_values"]] == [epochs[0], epochs[-1]]
