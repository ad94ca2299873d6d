"""The user's own table: one header row, numeric feature columns and one label column (strings or integers)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.errors import UserError


def read_table(path: str | Path, target: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Return (feature names, features as float32 rows, labels as strings); any malformed input is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    try:
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f) if row]
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {path} as CSV: {e}") from e
    if len(rows) < 2:
        raise UserError(f"{path} has no data rows (it needs a header row and at least one data row)")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise UserError(f"target column '{target}' is not in {path}; columns: {', '.join(header)}")
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    if not features:
        raise UserError(f"{path} has no feature columns besides '{target}'")
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    labels = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{path} line {r} has {len(row)} fields, the header has {len(header)}")
        values = [v for i, v in enumerate(row) if i != t]
        for c, value in enumerate(values):
            try:
                x[r - 2, c] = float(value)
            except ValueError:
                raise UserError(f"{path} line {r}, column '{features[c]}': {value!r} is not a number") from None
        label = row[t].strip()
        if not label:
            raise UserError(f"{path} line {r}: the target column '{target}' is empty")
        labels.append(label)
    if not np.isfinite(x).all():
        raise UserError(f"{path} has non-finite feature values (nan or inf)")
    return features, x, labels


def _class_order(labels: set[str]) -> list[str]:
    """Integer-like labels sort numerically (2 before 10), others alphabetically."""
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


def load(cfg) -> Pools:
    features, x, labels = read_table(cfg.path, cfg.target)
    target = None
    if cfg.target_path is not None:
        t_features, tx, t_labels = read_table(cfg.target_path, cfg.target)
        if t_features != features:
            raise UserError(f"{cfg.target_path} must have the same columns as {cfg.path}")
        target = (tx, t_labels)
    classes = _class_order(set(labels) | set(target[1] if target else []))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    if target is None:
        return Pools(x, y, classes)
    return Pools(x, y, classes, target[0], np.array([index[v] for v in target[1]], dtype=np.int64))
