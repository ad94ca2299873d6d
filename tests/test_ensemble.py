"""dltool evaluate's competition tricks (dltool.ensemble): averaged probabilities over ensemble members and over
shifted test-time views, against numpy by hand, and the options that do not apply."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from dltool.ensemble import average, competition, data_differences, shifted, view_offsets, view_probabilities
from dltool.errors import UserError
from dltool.evaluate import evaluate_run
from dltool.restore import restore, split_predictions
from tests.conftest import invoke


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two short digits MLPs of other seeds (inits) on the same split (data.split.seed=0): runs a and b."""
    runs = tmp_path_factory.mktemp("members")
    for name, seed in (("a", 1), ("b", 2)):
        result = invoke("train", "data=digits", "trainer.max_epochs=2", f"seed={seed}", "data.split.seed=0",
                        "trainer.baseline=false", "--runs-dir", runs, "--name", name, "--json")
        assert result.exit_code == 0, result.stderr
    return runs


@pytest.fixture(scope="module")
def combined(members):
    """Run a evaluated with 3 views and run b as a second member (printed and checked by two tests)."""
    return evaluate_run(members / "a", metric="accuracy", tta=3, ensemble=[members / "b"])


def copy_run(members, name, tmp_path, edit=None):
    """A fresh copy of member ``name`` (no eval files) in tmp_path/runs, its config.yaml changed by ``edit``."""
    target = tmp_path / "runs" / name
    shutil.copytree(members / name, target, ignore=shutil.ignore_patterns("eval-*", "predictions-*", "confusion-*"))
    if edit:
        cfg = yaml.safe_load((target / "config.yaml").read_text())
        edit(cfg)
        (target / "config.yaml").write_text(yaml.safe_dump(cfg))
    return target


SPEED = {"latency_ms_per_example": 1.0, "latency_ms_per_example_batched": 0.1}  # the run alone, as evaluate times it


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def numpy_probabilities(run_dir, offsets=((0, 0),)):
    """(V, N, K) softmax probabilities of a run's test split, by hand: inputs standardized with the run's own mean and
    std, shifted with numpy (zero-filled), the net's logits through a numpy softmax."""
    import torch

    setup, module = restore(run_dir)
    x = setup.splits["test"]["x"]
    z = ((x - module.mean) / module.std).cpu().numpy()
    out = []
    for dy, dx in offsets:
        view = np.zeros_like(z)
        h, w = z.shape[-2:]
        view[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            z[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        with torch.no_grad():
            out.append(softmax(module.net(torch.from_numpy(view)).double().numpy()))
    return np.stack(out), setup.splits["test"]["y"].cpu().numpy()


# --- pure functions -----------------------------------------------------------------------------------------------

def test_average_is_the_mean_over_members_by_hand():
    p = np.array([[[0.2, 0.8], [0.6, 0.4]],
                  [[0.4, 0.6], [0.9, 0.1]],
                  [[0.9, 0.1], [0.3, 0.7]]])  # 3 members, 2 examples, 2 classes
    expected = np.array([[(0.2 + 0.4 + 0.9) / 3, (0.8 + 0.6 + 0.1) / 3], [(0.6 + 0.9 + 0.3) / 3, (0.4 + 0.1 + 0.7) / 3]])
    assert np.allclose(average(p), expected, rtol=0, atol=1e-15)
    assert average(p).argmax(axis=1).tolist() == [0, 0]  # member 1 alone says [1, 0]: the mean outvotes it
    assert np.array_equal(average(p[:1]), p[0])  # one member: itself, exactly
    with pytest.raises(ValueError):
        average(np.zeros((0, 2, 2)))


def test_view_offsets_by_hand():
    assert view_offsets(1, 4, 1) == [(0,)]
    assert view_offsets(5, 4, 1) == [(0,), (-2,), (2,), (-4,), (4,)]  # the set of linspace(-4, 4, 5)
    assert view_offsets(4, 4, 1) == [(0,), (-2,), (2,), (-4,)]  # even: the last +s left out
    assert view_offsets(3, 1, 1) == [(0,), (-1,), (1,)]
    assert view_offsets(5, 2, 2) == [(0, 0), (-2, -2), (2, 2), (-2, 2), (2, -2)]  # centre and corners
    assert len(set(view_offsets(9, 1, 2))) == 9
    for n, shift, axes in ((4, 1, 1), (10, 3, 2), (0, 2, 1)):
        with pytest.raises(ValueError):
            view_offsets(n, shift, axes)


def test_shifted_views_by_hand():
    import torch

    signal = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])  # (B, L)
    assert shifted(signal, (1,)).tolist() == [[0, 1, 2, 3], [0, 5, 6, 7]]
    assert shifted(signal, (-2,)).tolist() == [[3, 4, 0, 0], [7, 8, 0, 0]]
    assert shifted(signal, (0,)) is signal
    image = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # (B, C, H, W): rows 1 2 3 / 4 5 6 / 7 8 9
    assert shifted(image, (1, -1)).tolist() == [[[[0, 0, 0], [2, 3, 0], [5, 6, 0]]]]  # down one, left one


def test_data_differences_name_the_keys_and_ignore_training_only_ones():
    base = {"seed": 1, "data": {"name": "digits", "augment": {"shift": 0}, "split": {"test": None, "seed": 0}}}
    other = {"seed": 2, "data": {"name": "digits", "augment": {"shift": 4}, "split": {"test": None, "seed": 0}}}
    assert data_differences(base, other) == []  # other init seed and augmentation, same examples
    assert data_differences(base, {**other, "data": {**other["data"], "split": {"test": 0.2, "seed": 0}}}) == \
        ["data.split.test"]
    assert data_differences({"seed": 1, "data": {}}, {"seed": 2, "data": {}}) == ["split seed (1 and 2)"]


# --- on trained runs ----------------------------------------------------------------------------------------------

def test_ensemble_equals_the_numpy_average_of_the_members_softmax(members):
    a, b = members / "a", members / "b"
    result = evaluate_run(a, metric="accuracy", ensemble=[b])
    ens = result["ensemble"]
    pa, y = numpy_probabilities(a)
    pb, yb = numpy_probabilities(b)
    assert np.array_equal(y, yb)  # the same split, example for example
    expected = float(((pa[0] + pb[0]) / 2).argmax(axis=1).__eq__(y).mean())
    assert ens["value"] == pytest.approx(expected, abs=1e-12)
    assert ens["members"] == ["a", "b"] and ens["views"] == 1
    own_b = evaluate_run(b, metric="accuracy")["value"]
    assert ens["member_values"] == [result["value"], own_b]  # each member's single-model figure, exactly
    assert ens["best_member_value"] == max(ens["member_values"])
    # each member's predictions-test.csv holds the argmax of the softmax averaged here
    for run, p in ((a, pa), (b, pb)):
        predicted = [row.split(",")[3] for row in (run / "predictions-test.csv").read_text().splitlines()[1:]]
        assert predicted == [str(c) for c in p[0].argmax(axis=1)]
    assert ens["latency_ms_per_example"] == pytest.approx(sum(ens["member_latency_ms"]))
    assert ens["latency_multiplier"] == pytest.approx(ens["latency_ms_per_example"] / result["latency_ms_per_example"])
    assert ens["latency_ms_per_example_batched"] > result["latency_ms_per_example_batched"]
    assert ens["member_latency_ms"][0] == result["latency_ms_per_example"]
    saved = json.loads((a / "eval-test.json").read_text())
    assert saved["ensemble"]["value"] == ens["value"]


def test_a_one_member_ensemble_and_one_view_equal_the_single_model_exactly(members):
    a = members / "a"
    setup, x, y, predictions = split_predictions(a, "test")
    p = view_probabilities(setup, "classify", x, [(0, 0)])
    assert np.array_equal(average(p).argmax(axis=1), predictions["predicted"])
    one = competition(a, setup, x, y, "test", [], 1, "error", {}, SPEED)
    result = evaluate_run(a, tta=1)
    assert one["tta"]["value"] == result["value"] == result["tta"]["value"] == result["tta"]["single_view_value"]
    assert result["tta"]["offsets"] == [[0, 0]] and result["tta"]["forward_passes"] == 1


def test_tta_and_ensemble_average_over_members_and_views_as_numpy_does(members, combined):
    a, b, result = members / "a", members / "b", combined
    tta, ens = result["tta"], result["ensemble"]
    assert tta["shift"] == 1 and tta["shift_from"].startswith("default")  # 8 x 8 digits trained without shifts
    offsets = [tuple(o) for o in tta["offsets"]]
    assert offsets == [(0, 0), (-1, -1), (1, 1)]
    pa, y = numpy_probabilities(a, offsets)
    pb, _ = numpy_probabilities(b, offsets)

    def accuracy(p):
        return float((p.argmax(axis=1) == y).mean())

    assert tta["value"] == pytest.approx(accuracy(pa.mean(axis=0)), abs=1e-12)
    assert tta["single_view_value"] == result["value"]
    assert ens["value"] == pytest.approx(accuracy((pa.mean(axis=0) + pb.mean(axis=0)) / 2), abs=1e-12)
    assert ens["single_view_value"] == pytest.approx(accuracy((pa[0] + pb[0]) / 2), abs=1e-12)
    assert ens["views"] == 3 and ens["member_latency_ms"][0] == tta["latency_ms_per_example"]


def test_a_member_with_other_examples_is_refused_before_anything_is_written(members, tmp_path):
    """The backstop behind the config check: a split rebuilt from another seed holds other examples."""
    a = copy_run(members, "a", tmp_path)
    other = copy_run(members, "b", tmp_path, lambda cfg: cfg["data"]["split"].update(seed=5))
    setup, x, y, _ = split_predictions(a, "test")
    with pytest.raises(UserError, match="ensemble member b holds other test examples than run a"):
        competition(a, setup, x, y, "test", [other], None, "error", {}, SPEED)
    assert not list(a.glob("eval-*"))


def test_a_mismatched_data_config_is_refused_in_one_line(members, tmp_path):
    a = copy_run(members, "a", tmp_path)
    copy_run(members, "b", tmp_path, lambda cfg: cfg["data"]["split"].update(test=0.2))
    result = invoke("evaluate", "a", "--ensemble", "b", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "dltool: error: ensemble member b was trained on other data than run a: data.split.test differ; members "
        "need the same data and split seed (train them with data.split.seed=S)"]
    assert not list(a.glob("eval-*")) and not list(a.glob("predictions-*"))


def _segment(cfg):
    cfg["task"]["name"] = "segment"


@pytest.mark.parametrize("args, message", [
    (["a", "--tta", "0"], "--tta takes a whole number of views >= 1 (1 = the plain input), got 0"),
    (["a", "--tta", "10"], "--tta 10: shifts of up to 1 steps (default (a twentieth of the shifted axis)) give 9 "
                           "distinct views of this data; choose --tta 1 to 9"),
    (["seg", "--tta", "3"], "--tta average class probabilities: task=classify or multilabel; run seg learned "
                            "task=segment"),
    (["a", "--ensemble", "seg"], "ensemble member seg learned task=segment, run a task=classify: members must do the "
                                 "same task"),
    (["a", "--ensemble", "nope"], "run 'nope' not found in"),
    (["a", "--ensemble", "b", "--ensemble", "b"], "run b is in the ensemble twice"),
    (["a", "--ensemble", "a"], "run a is in the ensemble twice"),
])
def test_options_that_do_not_apply_are_one_line_and_write_nothing(members, tmp_path, args, message):
    copy_run(members, "a", tmp_path)
    copy_run(members, "b", tmp_path)
    copy_run(members, "a", tmp_path / "s", _segment)
    shutil.move(tmp_path / "s" / "runs" / "a", tmp_path / "runs" / "seg")
    result = invoke("evaluate", *args, "--runs-dir", tmp_path / "runs")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert not list((tmp_path / "runs").glob("*/eval-*")) and not list((tmp_path / "runs").glob("*/predictions-*"))


def test_print_shows_the_figures_beside_the_single_model(combined, capsys):
    from dltool.report import print_evaluation

    print_evaluation(combined)
    out = capsys.readouterr().out
    assert "test-time augmentation, 3 views" in out and "single view" in out
    assert "ensemble of 2 x 3 views" in out and "best single" in out and "not production" in out


def test_a_member_folder_that_is_no_run_is_refused_before_loading(members, tmp_path):
    with pytest.raises(UserError, match="ensemble member .* is not a run folder"):
        evaluate_run(members / "a", ensemble=[tmp_path])
