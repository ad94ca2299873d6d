from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from dltool.config import compose
from dltool.tasks.verify import Verify, choose_threshold, figures, mine, one_shot, pair_error, squared_distances
from tests.conftest import invoke

OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}
# four unit vectors, identities 0, 0, 1, 1; squared distances (2 - 2 cos): ab 0.8, ac 0.4, ad 4, bc 2, bd 3.2, cd 3.6
E = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6], [-1.0, 0.0]])
Y = torch.tensor([0, 0, 1, 1])


def task(**kwargs) -> Verify:
    return Verify(nn.Identity(), {"classes": ["0", "1", "2"]}, torch.zeros(2), torch.ones(2), OPT, {"name": "none"},
                  1, **kwargs)


def test_the_triplet_loss_by_hand():
    # hard, margin 0.5: a: P b 0.8, N c 0.4 -> 0.9; b: P a 0.8, N c 2 -> 0; c: P d 3.6, N a 0.4 -> 3.7;
    # d: P c 3.6, N b 3.2 -> 0.9. Semi-hard: only d has a negative in (3.6, 4.1), a at 4 -> 0.1; the others fall back
    hard = task(margin=0.5, mining="hard").loss(3 * E, {"y": Y})  # not unit length: the task normalizes
    semi = task(margin=0.5, mining="semi_hard").loss(E, {"y": Y})
    assert hard.item() == pytest.approx((0.9 + 0 + 3.7 + 0.9) / 4, abs=1e-5)
    assert semi.item() == pytest.approx((0.9 + 0 + 3.7 + 0.1) / 4, abs=1e-5)
    assert task(margin=0.2, mining="hard").loss(E, {"y": Y}).item() == pytest.approx((0.6 + 0 + 3.4 + 0.6) / 4, abs=1e-5)


def test_mining_picks_the_hardest_positive_and_negative():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.5, 0.0], [-2.0, 0.0]])  # identities 0, 0, 0, 1, 1
    y = torch.tensor([0, 0, 0, 1, 1])
    d = squared_distances(e, e)
    same = y[:, None] == y[None, :]
    d_ap, d_an, valid = mine(d, same & ~torch.eye(5, dtype=torch.bool), ~same, 0.2, "hard")
    assert valid.all()
    assert d_ap.tolist() == [9.0, 4.0, 9.0, 6.25, 6.25]  # the farthest of the same identity (never itself)
    assert d_an.tolist() == [0.25, 0.25, 6.25, 0.25, 4.0]  # the nearest of another


def test_random_mining_is_valid_and_seeded():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(64, 4, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    t = task(mining="random")
    torch.manual_seed(1)
    first = t.loss(e, {"y": y})
    torch.manual_seed(1)
    assert t.loss(e, {"y": y}).item() == first.item()  # torch's generator: the same seed, the same triplets
    assert t.loss(e, {"y": y}).item() != first.item()
    d = squared_distances(e, e)
    same = y[:, None] == y[None, :]
    d_ap, d_an, _ = mine(d, same & ~torch.eye(64, dtype=torch.bool), ~same, 0.2, "random")
    assert all((d[i][same[i]] == d_ap[i]).any() and (d[i][~same[i]] == d_an[i]).any() for i in range(64))


def test_the_threshold_of_least_pair_error_and_the_error_at_it():
    d = np.array([0.6, 0.1, 0.9, 0.2, 0.5])
    same = np.array([True, True, False, True, False])
    # "same" up to 0.2 gets one pair wrong (the same pair at 0.6), as does up to 0.6 (the different one at 0.5):
    # the smaller, midway between 0.2 and 0.5
    assert choose_threshold(d, same) == pytest.approx(0.35)
    assert pair_error(d, same, 0.35) == pytest.approx(1 / 5)
    assert pair_error(d, same, 0.05) == pytest.approx(3 / 5)
    assert choose_threshold(np.array([0.1, 0.2]), np.array([False, False])) < 0.1  # nobody is the same
    assert figures(np.eye(3), np.array([0, 1, 2]), None)["pairs"] == 0  # one example an identity: no pairs


def test_one_shot_accuracy_on_hand_made_embeddings():
    centres = {0: 0.0, 1: 5.0, 2: 10.0}
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    e = np.array([[centres[c] + 0.01 * k, 0.0] for k, c in enumerate(y)])
    _, is_ref, ids = one_shot(e, y)
    assert is_ref.sum() == 3 and list(ids) == [0, 1, 2]
    got = figures(e, y, threshold=1.0, unseen=(2,))
    assert got["one_shot"] == 1.0 and got["chance"] == pytest.approx(1 / 3) and got["error"] == 0.0
    moved = np.flatnonzero((y == 0) & ~is_ref)[0]  # a query of identity 0 onto identity 1's reference
    e[moved] = e[np.flatnonzero((y == 1) & is_ref)[0]]
    got = figures(e, y, threshold=1.0, unseen=(2,))
    assert got["one_shot"] == pytest.approx(5 / 6)  # six queries, one wrong
    assert got["one_shot_seen"] == pytest.approx(3 / 4) and got["one_shot_unseen"] == 1.0
    assert 0 < got["auc"] < 1


def test_figures_are_exact_over_chunks_and_dev_sets_the_threshold(monkeypatch):
    from dltool import loop

    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(50, 2, generator=g), "y": torch.randint(0, 3, (50,), generator=g)}
    fabric = type("F", (), {"autocast": staticmethod(contextlib.nullcontext)})()
    t = task()
    whole = loop.evaluate(t, batch, fabric, "dev")
    assert float(t.threshold) == whole["threshold"]
    monkeypatch.setattr(loop, "EVAL_BATCH", 7)
    assert loop.evaluate(t, batch, fabric, "dev") == whole
    t.threshold.fill_(0.123)  # another split uses dev's threshold
    assert loop.evaluate(t, batch, fabric, "test")["threshold"] == 0.123


def test_unseen_classes_are_only_in_dev_and_test():
    from dltool.data import load_data

    data = load_data(compose(["data=digits", "data.unseen=[8,9]"]).data, seed=0)
    assert data.info["unseen"] == [8, 9]
    for name in ("train", "train_dev"):
        assert not np.isin(data.splits[name]["y"], [8, 9]).any()
    for name in ("dev", "test"):
        assert set(np.unique(data.splits[name]["y"])) == set(range(10))
    from sklearn.datasets import load_digits

    assert sum(np.isin(data.splits[n]["y"], [8, 9]).sum() for n in ("dev", "test")) == \
        np.isin(load_digits().target, [8, 9]).sum()  # every example of them, none lost
    plain = load_data(compose(["data=digits"]).data, seed=0)
    assert "unseen" not in plain.info


def test_a_verify_run_and_its_evaluation(tmp_path):
    result = invoke("train", "task=verify", "data=digits", "data.unseen=[8,9]", "model=mlp", "trainer.max_epochs=2",
                    "task.dim=16", "--runs-dir", tmp_path, "--name", "v", "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["task"] == "verify" and metrics["status"] == "completed"
    splits = metrics["splits"]
    for name, figures_ in splits.items():
        assert 0 <= figures_["error"] <= 1 and 0.5 < figures_["auc"] <= 1 and 0 <= figures_["one_shot"] <= 1
        assert figures_["threshold"] == splits["dev"]["threshold"]  # every split at dev's threshold
    assert {"one_shot_seen", "one_shot_unseen"} <= set(splits["test"]) and "one_shot_unseen" not in splits["train"]
    assert splits["test"]["chance"] == 0.1 and splits["train"]["identities"] == 8
    assert splits["test"]["one_shot_unseen"] > 0.1  # better than chance on identities never trained on
    out = invoke("evaluate", "v", "--runs-dir", tmp_path, "--metric", "one_shot", "--json")
    assert out.exit_code == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["value"] == pytest.approx(splits["test"]["one_shot"])
    assert got["threshold"] == pytest.approx(splits["dev"]["threshold"])
    assert got["per_class"]["unseen"]["one_shot"] == pytest.approx(splits["test"]["one_shot_unseen"])
    assert invoke("evaluate", "v", "--runs-dir", tmp_path).exit_code == 0  # the table prints
    assert invoke("export", "v", "--runs-dir", tmp_path).exit_code == 0
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "v" / "export" / "model.safetensors")
    assert exported["net.head.weight"].shape[0] == 16  # task.dim numbers an embedding
    assert exported["threshold"].item() == pytest.approx(splits["dev"]["threshold"])
