"""The user's arrays on disk, for data larger than memory: ``data.path`` (the inputs: one ``.npy`` file, one row an
example, or a folder of ``.npy`` shards read in the order of their names as one array) and ``data.labels`` (integer
or text labels, one a row, a file or a folder alike).

By default the inputs stay on disk (dltool.data.disk): the splits are index arrays into them, made by the same
splitter and seeds as every data set's (so a run on disk and one in memory split alike, example for example), and
each training batch and each chunk of an evaluation is read when it is needed. ``data.in_memory=true`` reads the
inputs into memory instead: the fast path, when they fit. The labels are always read into memory (one number a row).
The classes are the distinct labels, sorted; normalization statistics are streamed over the training rows.
Every file is recorded by its sha256 (a folder by the digest of its files' digests, in order), so a run refuses to
be evaluated on changed files; hashing reads each file once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.disk import Rows, Shards
from dltool.errors import UserError, check_bool


def files(path: Path, key: str) -> list[Path]:
    """The ``.npy`` files a ``data.<key>`` names: the file itself, or a folder's ``*.npy`` in the order of their names."""
    if path.is_dir():
        found = sorted(path.glob("*.npy"))
        if not found:
            raise UserError(f"data.{key}={path}: the folder holds no .npy files")
        return found
    if not path.is_file():
        raise UserError(f"data file not found: {path} (data.{key}: a .npy file or a folder of .npy shards)")
    return [path]


def describe(paths: list[Path], given: Path) -> dict:
    """``{"path", "sha256", "bytes"}`` of a file, or of a folder: the digest of its files' digests, in order."""
    from dltool.data.sources import describe as describe_file

    if len(paths) == 1 and paths[0] == given:
        return describe_file(given)
    parts = [describe_file(p) for p in paths]
    digest = hashlib.sha256("".join(f"{p.name}:{d['sha256']}\n" for p, d in zip(paths, parts)).encode())
    return {"path": os.path.abspath(given), "sha256": digest.hexdigest(), "bytes": sum(d["bytes"] for d in parts)}


def load(cfg) -> Pools:
    in_memory = check_bool(cfg.in_memory, "data.in_memory")
    if cfg.path is None or cfg.labels is None:
        raise UserError("data=npy needs data.path (the inputs: a .npy file or a folder of shards) and data.labels "
                        "(one label a row, the same way)")
    x_path, y_path = Path(str(cfg.path)), Path(str(cfg.labels))
    x_files, y_files = files(x_path, "path"), files(y_path, "labels")
    shards = Shards(x_files)
    labels = Shards(y_files)
    if labels.row_shape != ():
        raise UserError(f"data.labels={y_path} holds rows of shape {labels.row_shape}: give one label a row")
    if len(labels) != len(shards):
        raise UserError(f"data.path has {len(shards):,} rows and data.labels {len(labels):,}: give one label a row")
    if shards.dtype.kind not in "biuf":
        raise UserError(f"data.path={x_path} holds {shards.dtype}: give numbers (float or integer arrays)")
    raw = labels.read(np.arange(len(labels)))
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
            raise UserError(f"data.labels={y_path} holds fractional or non-finite numbers: give class labels")
        raw = raw.astype(np.int64)
    names, y = np.unique(raw, return_inverse=True)
    x = Rows(shards)
    if in_memory:  # numpy's own reader; load_data makes them float32
        x = np.load(x_files[0]) if len(x_files) == 1 else np.concatenate([np.load(p) for p in x_files])
    sources = {"path": describe(x_files, x_path), "labels": describe(y_files, y_path)}
    return Pools(x, y.astype(np.int64), [str(n) for n in names], sources=sources)
