"""MNIST-1D, generated locally by the ``mnist1d`` package (never downloaded) and cached as .npz."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.errors import UserError, check_number


def cache_dir() -> Path:
    return Path(os.environ.get("DLTOOL_CACHE", Path.home() / ".cache" / "dltool"))


def generate(settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """All ``num_samples`` examples of one generator setting (the package's train and test parts together)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    unknown = sorted(set(settings) - set(args))
    if unknown:
        raise UserError(f"unknown MNIST-1D generator setting: {', '.join(unknown)}; valid: {', '.join(sorted(args))}")
    args.update(settings)
    check_number(args["num_samples"], "data.generator.num_samples", low=10, integer=True)
    check_number(args["final_seq_length"], "data.generator.final_seq_length", low=1, integer=True)
    args["train_split"] = 0.8  # dltool re-splits; this only sets where the package cuts its x / x_test
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"mnist1d-{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            return f["x"], f["y"]
    try:
        data = make_dataset(_Args(args))
    except (ValueError, TypeError, IndexError) as e:
        raise UserError(f"MNIST-1D generator settings rejected: {e}") from e
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, path)
    return x, y


class _Args(dict):
    """mnist1d reads its settings as attributes."""

    __getattr__ = dict.__getitem__


def load(cfg) -> Pools:
    from omegaconf import OmegaConf

    source = OmegaConf.to_container(cfg.generator, resolve=True)
    x, y = generate(source)
    classes = [str(i) for i in range(10)]
    if cfg.target is None:
        return Pools(x, y, classes)
    tx, ty = generate({**source, **OmegaConf.to_container(cfg.target, resolve=True)})
    return Pools(x, y, classes, tx, ty)
