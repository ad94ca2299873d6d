from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from dltool.config import compose
from dltool.errors import UserError
from dltool.tasks.multilabel import Multilabel, counts, scores

LABELS = ["car", "sign", "light"]
OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}


def task() -> Multilabel:
    return Multilabel(nn.Identity(), {"classes": LABELS}, torch.zeros(3), torch.ones(3), OPT, {"name": "none"}, 1)


def bce(z: float, y: int) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_the_loss_sums_the_known_labels_and_averages_over_examples():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    y = torch.tensor([[1, -1, 0], [-1, 1, -1]])  # the course's '?' as -1
    by_hand = ((bce(2.0, 1) + bce(0.5, 0)) + bce(3.0, 1)) / 2
    assert task().loss(logits, {"y": y}).item() == pytest.approx(by_hand, rel=1e-6)


def test_an_unknown_label_never_reaches_the_loss_the_error_or_f1():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 3, generator=g)
    y = torch.randint(0, 2, (16, 3), generator=g)
    y[torch.rand(16, 3, generator=g) < 0.4] = -1
    other = logits.clone()
    other[y < 0] = torch.randn(int((y < 0).sum()), generator=g) * 10  # anything at all where the label is unknown
    t = task()
    for part in ("loss", "counts"):
        assert torch.equal(t.sums(logits, {"y": y})[part], t.sums(other, {"y": y})[part])
    z = logits.clone().requires_grad_()
    t.loss(z, {"y": y}).backward()
    assert (z.grad[y < 0] == 0).all() and (z.grad[y >= 0] != 0).all()  # no gradient from an unknown label


def test_figures_by_hand():
    # car: 2 known, both yes, predicted yes and no: tp 1, fn 1 -> error 1/2, precision 1, recall 1/2, F1 2/3
    # sign: 1 known, a no predicted yes: fp 1 -> error 1, precision 0, recall 0, F1 0; light: never known
    logits = torch.tensor([[1.0, 1.0, 5.0], [-1.0, 0.0, -5.0]])
    y = torch.tensor([[1, -1, -1], [1, 0, -1]])
    got = scores(counts(logits >= 0, y).numpy(), LABELS)
    assert got["per_label"]["car"] == {"error": 0.5, "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                       "known": 2}
    assert got["per_label"]["sign"]["error"] == 1.0 and got["per_label"]["sign"]["f1"] == 0.0
    assert got["per_label"]["light"] == {"error": None, "precision": None, "recall": None, "f1": None, "known": 0}
    assert got["error"] == pytest.approx((0.5 + 1.0) / 2) and got["f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_the_canvas_labels_say_which_digits_show_and_hide_a_seeded_share():
    import numpy as np

    from dltool.data import load_data

    masks = load_data(compose(["data=canvas", "data.n=100"]).data, seed=0).splits["train"]
    labelled = load_data(compose(["data=canvas", "data.n=100", "data.target=labels"]).data, seed=0).splits["train"]
    assert np.array_equal(masks["x"], labelled["x"])  # the same images
    for mask, labels in zip(masks["y"], labelled["y"]):
        assert labels.tolist() == [int((mask == 1 + d).any()) for d in range(10)]
    hidden = load_data(compose(["data=canvas", "data.n=400", "data.target=labels", "data.hidden=0.3"]).data, 0)
    y = np.concatenate([s["y"] for s in hidden.splits.values()])
    assert 0.26 < (y == -1).mean() < 0.34 and hidden.info == {"classes": [str(d) for d in range(10)]}


@pytest.mark.parametrize("overrides,message", [
    (["task=multilabel", "data=digits"], r"task multilabel needs a row of labels an example, one a class, each 1, 0 "
                                         r"or -1 \(unknown\), e.g. data=canvas data.target=labels; this data has "
                                         r"labels of shape \(\) for 10 classes"),
    (["task=multilabel", "data=canvas", "data.n=40"], r"labels of shape \(32, 32\) for 11 classes"),
    (["data=canvas", "data.hidden=0.2"], "data.hidden hides labels: it needs data.target=labels"),
    (["data=canvas", "data.target=points"], "unknown data.target 'points'; choose from: mask, labels, boxes"),
    (["task=multilabel", "model=unet", "data=canvas", "data.target=labels"],
     "model unet does not serve task=multilabel; models that do: alexnet, cnn, cnn_paper"),
])
def test_data_and_models_that_do_not_fit_are_one_line(overrides, message):
    from dltool.train import build

    with pytest.raises(UserError, match=message):
        build(compose(overrides))


def test_a_tiny_multilabel_run_with_hidden_labels_learns_and_evaluates(tmp_path):
    from tests.conftest import invoke

    args = ["task=multilabel", "model=resnet", "data=canvas", "data.target=labels", "data.hidden=0.3", "data.n=300",
            "model.channels=[8,16,32]", "trainer.max_epochs=6", "optimizer.lr=0.003"]
    trained = invoke("train", *args, "--runs-dir", tmp_path, "--name", "m", "--json")
    assert trained.exit_code == 0, trained.stderr
    train = json.loads(trained.stdout)["splits"]["train"]
    assert set(train) >= {"error", "f1", "per_label", "loss", "n"}
    assert 0 < train["per_label"]["3"]["known"] < train["n"]  # a share of the labels is unknown, and left out
    evaluated = invoke("evaluate", "m", "--runs-dir", tmp_path, "--metric", "f1", "--split", "train", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    e = json.loads(evaluated.stdout)
    assert e["value"] == pytest.approx(train["f1"], abs=1e-9) and e["per_class"] == train["per_label"]
    assert (tmp_path / "m" / "predictions-train.csv").read_text().startswith("index,correct,0_true")
