from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltool.config import compose
from dltool.errors import UserError
from dltool.tasks.segment import Segment, confusion, scores

CLASSES = ["background", "a", "b"]
OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}
TINY = ["task=segment", "model=unet", "data=canvas", "data.n=200", "model.channels=[8,16]"]


def segmenter(dice: float = 0.0) -> Segment:
    return Segment(nn.Identity(), {"classes": CLASSES}, torch.zeros(1), torch.ones(1), OPT, {"name": "none"}, 1,
                   dice=dice)


def test_scores_of_a_hand_worked_confusion_matrix():
    # rows true, columns predicted: background 8 pixels (7 right, 1 called a), a 3 pixels (2 right, 1 called b),
    # b never true and predicted once: IoU bg 7/(8+7-7)=7/8, a 2/(3+3-2)=2/4, b 0/(0+1-0)=0
    matrix = [[7, 1, 0], [0, 2, 1], [0, 0, 0]]
    got = scores(matrix, CLASSES)
    assert got["iou"] == {"background": 7 / 8, "a": 0.5, "b": 0.0}
    assert got["miou"] == pytest.approx((7 / 8 + 0.5 + 0) / 3)
    assert got["pixel_accuracy"] == pytest.approx(9 / 11)
    assert got["dice"] == pytest.approx((2 * 7 / 15 + 2 * 2 / 6 + 0) / 3)  # 2 TP / (2 TP + FP + FN)
    absent = scores([[5, 0, 0], [0, 3, 0], [0, 0, 0]], CLASSES)  # b appears nowhere: left out of the mean
    assert absent["iou"]["b"] is None and absent["miou"] == 1.0


def test_mean_iou_agrees_with_torchmetrics():
    """The independent reference: torchmetrics' JaccardIndex on random masks where every class appears."""
    from torchmetrics.classification import MulticlassJaccardIndex

    g = torch.Generator().manual_seed(0)
    true, predicted = torch.randint(0, 4, (5, 9, 9), generator=g), torch.randint(0, 4, (5, 9, 9), generator=g)
    mine = scores(confusion(predicted, true, 4).numpy(), list("wxyz"))["miou"]
    assert mine == pytest.approx(MulticlassJaccardIndex(num_classes=4, average="macro")(predicted, true).item())


def test_a_split_sums_over_chunks_to_what_it_is_whole():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(6, 3, 4, 4, generator=g), torch.randint(0, 3, (6, 4, 4), generator=g)
    task = segmenter()
    whole = task.summarize({k: v.double().numpy() for k, v in task.sums(logits, {"y": y}).items()}, 6)
    parts = [task.sums(logits[i:i + 2], {"y": y[i:i + 2]}) for i in (0, 2, 4)]
    totals = {k: sum(p[k].double().numpy() for p in parts) for k in parts[0]}
    chunked = task.summarize(totals, 6)
    assert chunked["miou"] == pytest.approx(whole["miou"]) and chunked["loss"] == pytest.approx(whole["loss"])
    assert whole["loss"] == pytest.approx(F.cross_entropy(logits, y).item())  # equal-sized images: the pixel mean
    assert whole["error"] == pytest.approx(1 - whole["miou"])


def test_large_images_are_measured_in_smaller_chunks_with_the_same_figures(monkeypatch):
    import contextlib

    from dltool import loop

    g = torch.Generator().manual_seed(2)  # 300 "images" of 3 x 32 x 32 scores: 3,072 values, 42 a chunk (2 ** 17)
    batch = {"x": torch.randn(300, 3, 32, 32, generator=g), "y": torch.randint(0, 3, (300, 32, 32), generator=g)}
    fabric = type("F", (), {"autocast": staticmethod(contextlib.nullcontext)})()
    task, seen = segmenter(), []
    step = task.validation_step
    monkeypatch.setattr(task, "validation_step", lambda b: seen.append(len(b["x"])) or step(b))
    chunked = loop.evaluate(task, batch, fabric)
    assert loop.chunk(batch["x"]) == 2 ** 17 // 3072 == 42 and seen == [42] * 7 + [6]
    assert loop.chunk(torch.zeros(5, 40)) == 3276 and loop.chunk(torch.zeros(5)) == loop.EVAL_BATCH
    whole = task.summarize({k: v.double().numpy() for k, v in task.sums(batch["x"], batch).items()}, 300)
    assert chunked["miou"] == pytest.approx(whole["miou"]) and chunked["loss"] == pytest.approx(whole["loss"])


def test_the_dice_term_by_hand():
    """One image of two pixels, two classes: probabilities p, one-hot t; soft Dice per class 2 sum(p t) / sum(p + t)."""
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    y = torch.tensor([[[0, 1]]])
    p = torch.softmax(logits, dim=1)[0, :, 0]  # (2 classes, 2 pixels)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    dice = (2 * (p * t).sum(dim=1) / (p + t).sum(dim=1)).mean()
    expected = F.cross_entropy(logits, y) + 0.5 * (1 - dice)
    assert segmenter(dice=0.5).loss(logits, {"y": y}).item() == pytest.approx(expected.item())
    assert segmenter().loss(logits, {"y": y}).item() == pytest.approx(F.cross_entropy(logits, y).item())


@pytest.mark.parametrize("overrides,message", [
    (["task=segment", "model=unet", "data=digits"], "task segment needs a mask a pixel .*; this data has inputs "
                                                    r"\(1, 8, 8\) and labels \(\)"),
    (["data=canvas", "data.n=40", "model=cnn"], r"task classify needs one label an example; this data has labels of "
                                                r"shape \(32, 32\) an example \(a mask: use task=segment\)"),
    (["task=segment", "model=cnn", "data=canvas"], "model cnn does not serve task=segment; models that do: unet"),
    (["task=segment", "model=unet", "data=canvas", "task.dice=-1"], r"task.dice must be a number in \[0, inf\)"),
    (["task=segment", "model=unet", "data=canvas", "data.size=30"], "its height and width must divide by 8, got "
                                                                    "30 x 30"),
])
def test_a_task_and_data_that_do_not_fit_are_one_line(overrides, message):
    from dltool.train import build

    with pytest.raises(UserError, match=message):
        build(compose(overrides))


def test_a_tiny_segmentation_run_learns_and_evaluates_and_exports(tmp_path):
    """Train, evaluate and export a U-Net on a small canvas through the same commands as a classifier."""
    from tests.conftest import invoke

    trained = invoke("train", *TINY, "trainer.max_epochs=10", "trainer.batch_size=16", "--runs-dir", tmp_path,
                     "--name", "s", "--json")
    assert trained.exit_code == 0, trained.stderr
    metrics = json.loads(trained.stdout)
    assert metrics["task"] == "segment"
    train = metrics["splits"]["train"]
    assert set(train) >= {"error", "loss", "n", "miou", "pixel_accuracy", "dice", "iou"}
    assert train["error"] == pytest.approx(1 - train["miou"]) and list(train["iou"])[0] == "background"
    # in 80 steps it finds where the digits are (which digit takes longer: README's run)
    assert train["iou"]["background"] > 0.9
    import csv

    history = list(csv.DictReader((tmp_path / "s" / "history.csv").open()))
    assert min(float(r["dev_error"]) for r in history) < float(history[0]["dev_error"])
    evaluated = invoke("evaluate", "s", "--runs-dir", tmp_path, "--metric", "miou", "--split", "dev",
                       "--require", "pixel_accuracy>=0.5", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    e = json.loads(evaluated.stdout)
    assert e["value"] == pytest.approx(metrics["splits"]["dev"]["miou"], abs=1e-9)  # the run's own split
    assert e["per_class"]["background"]["pixels"] == sum(e["confusion_matrix"][0])
    assert (tmp_path / "s" / "masks-dev.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "s" / "predictions-dev.csv").read_text().startswith("index,correct,pixel_accuracy")
    refused = invoke("evaluate", "s", "--runs-dir", tmp_path, "--metric", "f1")
    assert refused.exit_code == 2 and "unknown --metric 'f1'; choose from: error, miou, pixel_accuracy, dice" in \
        refused.stderr
    averaged = invoke("evaluate", "s", "--runs-dir", tmp_path, "--average", "micro")
    assert averaged.exit_code == 2 and "--average apply to task=classify; run s learned task=segment" in averaged.stderr
    exported = invoke("export", "s", "--runs-dir", tmp_path, "--json")
    assert exported.exit_code == 0, exported.stderr
    diagnosed = invoke("diagnose", "s", "--runs-dir", tmp_path, "--json")
    assert diagnosed.exit_code == 0 and json.loads(diagnosed.stdout)["errors"]["train"] == train["error"]
    notes = json.loads(diagnosed.stdout)["notes"]
    assert "intervals" not in json.loads(diagnosed.stdout)  # a mean IoU is not a proportion of examples
    assert any(n.startswith("No intervals: the error of task segment is not a proportion") for n in notes)


def test_the_dice_loss_keeps_float64_for_gradient_checking():
    """Backprop of cross-entropy plus soft Dice against two-sided differences (torch.autograd.gradcheck): a loss
    cast down to float32 would fail it, as dltool gradcheck would call it a bug."""
    task = segmenter(dice=1.0).double()
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, 3, (2, 5, 5), generator=g)
    assert torch.autograd.gradcheck(lambda z: task.loss(z, {"y": y}), (logits,))
