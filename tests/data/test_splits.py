from __future__ import annotations

import numpy as np
import pytest

from dltool.data.splits import held_out_sizes, split
from dltool.errors import UserError

DEFAULT = {"train_dev": None, "dev": None, "test": None}


def labelled(n: int, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = np.arange(n, dtype=np.float32)[:, None]  # x holds each example's index, to trace it
    return x, y


@pytest.mark.parametrize(
    "n,expected",
    [
        (5_000, {"train_dev": 500, "dev": 750, "test": 750}),  # 60/10/15/15 for small data
        (1_000_000, {"train_dev": 10_000, "dev": 10_000, "test": 10_000}),  # 97/1/1/1 for millions
        (40_000, {"train_dev": 4_000, "dev": 6_000, "test": 6_000}),
    ],
)
def test_default_sizes_follow_the_data_size(n, expected):
    assert held_out_sizes(n, DEFAULT) == expected


def test_given_fractions_override_the_default():
    assert held_out_sizes(1000, {"train_dev": 0.0, "dev": 0.3, "test": 0.2}) == {"train_dev": 0, "dev": 300, "test": 200}


def test_splits_partition_the_data_without_overlap():
    x, y = labelled(5000)
    parts = split({"x": x, "y": y}, DEFAULT, seed=0)
    sizes = {k: len(v["y"]) for k, v in parts.items()}
    assert sizes == {"train": 3000, "train_dev": 500, "dev": 750, "test": 750}
    ids = np.concatenate([v["x"][:, 0] for v in parts.values()])
    assert len(ids) == 5000 and len(np.unique(ids)) == 5000  # every example in exactly one split
    for xs, ys in ((v["x"], v["y"]) for v in parts.values()):
        assert np.array_equal(y[xs[:, 0].astype(int)], ys)  # labels travel with their examples


def test_splits_are_stratified():
    x, y = labelled(5000)
    for name, ys in ((k, v["y"]) for k, v in split({"x": x, "y": y}, DEFAULT, seed=1).items()):
        counts = np.bincount(ys, minlength=10)
        assert counts.max() - counts.min() <= 1, name  # each class gets its share, to within one example


def test_same_seed_same_split_other_seed_other_split():
    x, y = labelled(2000)
    a, b, c = (split({"x": x, "y": y}, DEFAULT, seed=s) for s in (5, 5, 6))
    assert all(np.array_equal(a[k]["x"], b[k]["x"]) for k in a)
    assert not np.array_equal(a["dev"]["x"], c["dev"]["x"])


def test_mismatched_distributions_train_on_source_evaluate_on_target():
    x, y = labelled(1000)
    tx, ty = labelled(1000, seed=1)
    tx = tx + 10_000  # target examples carry ids >= 10000
    fractions = {"train_dev": 0.1, "dev": 0.2, "test": 0.2}
    parts = split({"x": x, "y": y}, fractions, seed=0, target={"x": tx, "y": ty})
    assert {k: len(v["y"]) for k, v in parts.items()} == {"train": 900, "train_dev": 100, "dev": 200, "test": 200}
    assert (parts["train"]["x"] < 10_000).all() and (parts["train_dev"]["x"] < 10_000).all()
    assert (parts["dev"]["x"] >= 10_000).all() and (parts["test"]["x"] >= 10_000).all()

    moved = split({"x": x, "y": y}, fractions, seed=0, target={"x": tx, "y": ty}, target_in_train=250)
    assert len(moved["train"]["y"]) == 1150 and (moved["train"]["x"] >= 10_000).sum() == 250
    assert np.array_equal(moved["dev"]["x"], parts["dev"]["x"])  # dev and test do not change when target joins train
    held_out = np.concatenate([moved["dev"]["x"], moved["test"]["x"]])
    assert not np.isin(moved["train"]["x"], held_out).any()


def test_split_mistakes():
    x, y = labelled(100)
    with pytest.raises(UserError, match="not enough data"):
        split({"x": x, "y": y}, {"train_dev": 0.5, "dev": 0.3, "test": 0.3}, seed=0)
    with pytest.raises(UserError, match=r"data.split.dev must be a number in \[0, 1\)"):
        split({"x": x, "y": y}, {"train_dev": None, "dev": 1.5, "test": None}, seed=0)
    with pytest.raises(UserError, match="needs a target distribution"):
        split({"x": x, "y": y}, DEFAULT, seed=0, target_in_train=5)
    with pytest.raises(UserError, match="target_in_train must be an integer in"):
        split({"x": x, "y": y}, {"train_dev": 0.1, "dev": 0.2, "test": 0.2}, seed=0, target={"x": x, "y": y}, target_in_train=61)
