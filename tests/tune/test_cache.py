"""dltool.cache: what a tuning worker's trials reuse (the data set, its device copy, the statistics, the baseline),
keyed by the data config and seed, never a stale hit; and the study it runs is the same with and without it."""

from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import pytest

from dltool import cache
from dltool.tune import run_study
from tests.tune.common import FAST, options, trial_states


@pytest.fixture
def loads(monkeypatch):
    """Count the calls of dltool.data.load_data that dltool.train.build makes."""
    import dltool.train

    calls = []
    real = dltool.train.load_data

    def counted(cfg, seed):
        calls.append(seed)
        return real(cfg, seed)

    monkeypatch.setattr(dltool.train, "load_data", counted)
    return calls


def _config(*overrides):
    from dltool.config import compose

    return compose([*FAST, "trainer.threads=1", *overrides])


def test_a_hit_gives_the_arrays_of_a_fresh_load(loads):
    from dltool.data import load_data
    from dltool.train import build, keep_threads

    cfg = _config()
    with keep_threads(), cache.reuse():
        first, second = build(cfg), build(cfg)
    assert len(loads) == 1 and cache.active() is None  # one load; nothing kept after the block
    fresh = load_data(cfg.data, cfg.seed)
    for split, arrays in fresh.splits.items():
        for name, a in arrays.items():
            assert second.data.splits[split][name] is first.data.splits[split][name]  # shared, not copied
            np.testing.assert_array_equal(second.data.splits[split][name], a)
            assert second.splits[split][name] is first.splits[split][name]  # the device copy too
    assert second.data.info == fresh.info and second.data.info is not first.data.info  # a task adds to its own
    assert (second.module.mean == first.module.mean).all() and second.module.mean is not first.module.mean
    assert (second.module.std == first.module.std).all()
    assert second.fabric is first.fabric  # one Fabric for a worker's runs on one device


def test_runs_of_another_precision_get_a_fabric_of_their_own():
    from dltool.train import build, keep_threads

    with keep_threads(), cache.reuse():
        full, half = build(_config()), build(_config("trainer.precision=bf16"))
        again = build(_config("trainer.precision=bf16"))
    assert half.fabric is not full.fabric and again.fabric is half.fabric
    assert half.fabric.strategy.precision.precision == "bf16-mixed"
    assert full.fabric.strategy.precision.precision == "32-true"


@pytest.mark.parametrize("change", ["data.split.train_size=200", "data.augment.noise=0.1", "seed=1",
                                    "data.split.dev=0.3"])
def test_a_trial_whose_data_differs_gets_a_fresh_load(loads, change):
    from dltool.data import load_data
    from dltool.train import build, keep_threads

    base, other = _config(), _config(change)
    with keep_threads(), cache.reuse():
        build(base)
        changed = build(other)
        again = build(other)
    assert len(loads) == 2  # the change loaded afresh, and then that was reused
    fresh = load_data(other.data, other.seed)
    for split, arrays in fresh.splits.items():
        assert len(changed.data.splits[split]["y"]) == len(arrays["y"])
        np.testing.assert_array_equal(changed.data.splits[split]["x"], arrays["x"])
        assert again.data.splits[split]["x"] is changed.data.splits[split]["x"]
    if change.startswith("data.split.train_size"):
        assert len(changed.splits["train"]["y"]) == 200


def test_nothing_is_reused_outside_a_reuse_block(loads):
    from dltool.train import build, keep_threads

    cfg = _config()
    with keep_threads():
        build(cfg)
        build(cfg)
    assert len(loads) == 2


def test_a_file_that_changed_is_read_again(tmp_path):
    """A data set read from a file is not reused once the file's size or modification time differ."""
    from dltool.data import Dataset

    path = tmp_path / "table.csv"
    path.write_text("a,label\n1,0\n")
    reads = []

    def loader(cfg, seed):
        reads.append(path.read_text())
        x = np.zeros((1, 1), np.float32)
        return Dataset({"train": {"x": x, "y": np.zeros(1, np.int64)}}, {"classes": ["0", "1"]}, None,
                       {"path": {"path": str(path), "sha256": "", "bytes": 0}})

    with cache.reuse():
        key = cache.data_key({"path": str(path)}, 0)
        first = cache.load(key, loader, None, 0)
        second = cache.load(key, loader, None, 0)
        assert len(reads) == 1 and second.splits["train"]["x"] is first.splits["train"]["x"]
        path.write_text("a,label\n1,0\n2,1\n")
        cache.load(key, loader, None, 0)
        assert len(reads) == 2 and reads[-1].endswith("2,1\n")


def test_remembered_values_belong_to_their_data_key():
    made = []

    def make():
        made.append(1)
        return {"value": len(made)}

    with cache.reuse():
        a, b = cache.data_key({"n": 1}, 0), cache.data_key({"n": 2}, 0)
        cache.load(a, lambda cfg, seed: _tiny(), None, 0)
        first = cache.remember(a, ("x",), make)
        first["value"] = 99  # a caller's change stays its own
        assert cache.remember(a, ("x",), make) == {"value": 1} and len(made) == 1
        assert cache.remember(b, ("x",), make) == {"value": 2}  # not the key of the data held: computed, not kept
        cache.load(b, lambda cfg, seed: _tiny(), None, 0)
        assert cache.remember(b, ("x",), make) == {"value": 3} and cache.remember(a, ("x",), make) == {"value": 4}
    assert cache.data_key({"n": 1}, 0) is None  # off outside the block


def _tiny():
    from dltool.data import Dataset

    return Dataset({"train": {"x": np.zeros((2, 1), np.float32), "y": np.arange(2)}}, {"classes": ["0", "1"]}, None)


def test_the_same_study_gives_the_same_trials_with_and_without_the_cache(tmp_path, monkeypatch, loads):
    """MNIST-1D (a vector data set: every trial also fits the baseline, which the cache keeps too), seed 0: the same
    parameters, dev errors, epochs and baselines, trial for trial."""
    study = ["data=mnist1d", "trainer.max_epochs=2", "trainer.threads=1", "search=lr"]

    def run(name: str) -> tuple[list[dict], list[dict]]:
        run_study(options(tmp_path, *study, name=name, trials=3, seed=0, retrain_best=False))
        rows = trial_states(tmp_path / "runs" / name)
        metrics = [json.loads((tmp_path / "runs" / name / "trials" / f"trial-{int(r['number']):04d}" /
                               "metrics.json").read_text()) for r in rows]
        return rows, metrics

    cached_rows, cached = run("with")
    assert len(loads) == 1  # the check before the study loaded the data; every trial reused it
    monkeypatch.setattr(cache, "reuse", nullcontext)
    plain_rows, plain = run("without")
    assert len(loads) == 1 + 1 + 3
    keys = ("number", "state", "optimizer.lr", "dev_error", "train_error", "epochs")
    assert [{k: r[k] for k in keys} for r in cached_rows] == [{k: r[k] for k in keys} for r in plain_rows]
    for a, b in zip(cached, plain):
        assert a["baseline"] is not None and a["baseline"] == b["baseline"]
        assert a["splits"] == b["splits"] and a["best_epoch"] == b["best_epoch"]
