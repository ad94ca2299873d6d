"""task=trigger on data=digit_strings data.target=trigger: the frame labels against the digits laid out, the
resampling to the net's frames, the loss and F1 against torch and scikit-learn, and one tiny run through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from dltool.data.digit_strings import FRAMES, PAD, trigger_labels
from dltool.tasks.trigger import Trigger, f1_figures, resample
from dltool.trigger_scores import runs_of_ones

INFO = {"classes": ["no", "yes"], "target": "trigger", "trigger": "3", "ones": 4}


def task() -> Trigger:
    return Trigger(nn.Identity(), INFO, torch.zeros(1), torch.ones(1), {"name": "adam", "lr": 0.01},
                   {"name": "none"}, 1)


def test_trigger_frames_are_ones_right_after_each_trigger_digit():
    labels = np.array([[3, 5, 3], [1, PAD, PAD]])
    starts = np.array([[0, 45, 90], [2, PAD, PAD]])
    y = trigger_labels(starts, labels, trigger=3, ones=4, length=132)
    expected = np.zeros((2, 132), dtype=np.int64)
    expected[0, FRAMES:FRAMES + 4] = 1  # the first 3 ends at frame 40
    expected[0, 130:] = 1  # the last ends at 130: cut at the signal's end
    np.testing.assert_array_equal(y, expected)


def test_resample_takes_the_label_nearest_each_output_frames_centre():
    y = torch.tensor([[0, 0, 1, 1, 0, 0, 0, 1]])
    assert resample(y, 4).tolist() == [[0, 1, 0, 1]]  # centres at input frames 1, 3, 5, 7
    assert resample(y, 8).tolist() == y.tolist()


def test_f1_figures_agree_with_scikit_learn():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    yes, said = rng.random(200) < 0.2, rng.random(200) < 0.3
    tp, fp, fn = (said & yes).sum(), (said & ~yes).sum(), (~said & yes).sum()
    figures = f1_figures(tp, fp, fn)
    assert figures["f1"] == pytest.approx(f1_score(yes, said))
    assert figures["precision"] == pytest.approx(precision_score(yes, said))
    assert figures["recall"] == pytest.approx(recall_score(yes, said))
    assert f1_figures(0, 0, 5) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}  # never fires: F1 0
    assert f1_figures(0, 0, 0)["f1"] == 1.0  # nothing to find, nothing found


def test_the_loss_is_the_frames_binary_cross_entropy_and_the_figures_count_frames():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 1, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0, 0, 1, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 0, 0]])
    target = torch.tensor([[0, 1, 0, 1], [1, 0, 0, 0]], dtype=torch.float64)
    ours = task().loss(logits, {"y": y})
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, nn.BCEWithLogitsLoss()(logits[..., 0], target))
    assert torch.autograd.gradcheck(lambda z: task().loss(z, {"y": y}), (logits,))
    said = torch.tensor([[[5.0], [5.0], [-5.0], [-5.0]], [[5.0], [-5.0], [-5.0], [5.0]]])  # tp 2, fp 2, fn 1
    t = task()
    figures = t.summarize({k: float(v) for k, v in t.sums(said, {"y": y}).items()}, 2)
    assert figures["f1"] == pytest.approx(4 / 7) and figures["error"] == pytest.approx(3 / 7)
    assert figures["frame_error"] == pytest.approx(3 / 8)
    # detections: row 0's frames 0-1 touch a trigger frame, row 1's frame 0 does, its frame 3 does not: one false
    # positive in 2 x 8 input steps
    assert figures["false_positives_per_1000"] == pytest.approx(1000 / 16)
    assert t.predict(said)["predicted"].tolist() == [[1, 1, 0, 0], [1, 0, 0, 1]]


def test_false_positives_are_detections_that_touch_no_trigger_frame():
    from dltool.tasks.trigger import false_positives

    said = torch.tensor([[0, 1, 1], [1, 0, 1]], dtype=torch.bool)  # runs: (0: 1-2), (1: 0), (1: 2)
    yes = torch.tensor([[0, 0, 1], [0, 0, 0]], dtype=torch.bool)  # row 0's run touches frame 2; row 1's touch nothing
    assert float(false_positives(said, yes)) == 2  # row 0's last frame and row 1's first are separate runs
    assert float(false_positives(said, said)) == 0 and float(false_positives(torch.zeros_like(said), yes)) == 0


def test_tune_takes_false_positives_as_a_constraint_of_trigger_studies_only(tmp_path):
    from dltool.errors import UserError
    from dltool.tune.plan import TuneOptions, plan

    args = ["task=trigger", "model=ctc_rnn", "data=digit_strings", "data.target=trigger"]
    p = plan(TuneOptions(overrides=args, constraints=["false_positives_per_1000<=2"], runs_dir=tmp_path,
                         progress=False))
    assert p.constraints == [("false_positives_per_1000", "<=", 2.0)]
    with pytest.raises(UserError, match="constraints are satisficing metrics: latency_ms, parameters$"):
        plan(TuneOptions(overrides=[], constraints=["false_positives_per_1000<=2"], runs_dir=tmp_path,
                         progress=False))


def test_runs_of_ones_counts_rising_edges():
    assert runs_of_ones([0, 1, 1, 0, 1, 0, 0, 1]) == 3 and runs_of_ones([1, 1]) == 1 and runs_of_ones([0, 0]) == 0


def test_a_tiny_trigger_detector_trains_and_evaluates(tmp_path):
    from tests.conftest import invoke

    args = ["task=trigger", "model=ctc_rnn", "data=digit_strings", "data.target=trigger", "data.n=60",
            "data.digits=[1,2]", "data.gap=[0,2]", "model.channels=[8]", "model.strides=4", "model.hidden=8",
            "model.bidirectional=false", "trainer.max_epochs=2", "trainer.batch_size=16"]
    result = invoke("train", *args, "--runs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    dev = run["splits"]["dev"]
    assert dev["error"] == pytest.approx(1 - dev["f1"])
    run_dir = tmp_path / run["run"]
    evaluated = invoke("evaluate", str(run_dir), "--split", "dev", "--metric", "f1", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    scored = json.loads(evaluated.stdout)
    assert scored["f1"] == pytest.approx(dev["f1"])
    assert scored["false_positives_per_1000"] == pytest.approx(dev["false_positives_per_1000"])
    header = (run_dir / "predictions-dev.csv").read_text().splitlines()[0]
    assert header == "index,triggers,detections,frame_error,confidence"
