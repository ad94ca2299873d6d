"""Train / train-dev / dev / test splits: stratified, seeded, sized by the amount of data.

The rule for default sizes (course 2: 60/20/20 for small data, 98/1/1 for millions): each held-out split gets a fixed
fraction of the data, capped at 10,000 examples, which is plenty to measure an error to a fraction of a percent:

    train_dev = min(10% of n, 10,000)     dev = test = min(15% of n, 10,000)

5,000 examples give 3,000 / 500 / 750 / 750 (60/10/15/15); a million give 970,000 / 10,000 / 10,000 / 10,000.
With a separate target distribution (course 3's data mismatch), train and train-dev come from the source, dev and test
from the target, and the fractions apply to each pool's own size.
"""

from __future__ import annotations

import numpy as np

from dltool.errors import UserError, check_number
from dltool.metrics import SPLITS
CAP = 10_000
DEFAULT_FRACTIONS = {"train_dev": 0.10, "dev": 0.15, "test": 0.15}

Arrays = tuple[np.ndarray, np.ndarray]


def held_out_sizes(n: int, fractions: dict[str, float | None]) -> dict[str, int]:
    """Number of examples for each held-out split named in ``fractions`` (None = the default rule)."""
    sizes = {}
    for name, fraction in fractions.items():
        if fraction is None:
            sizes[name] = min(round(DEFAULT_FRACTIONS[name] * n), CAP)
        else:
            check_number(fraction, f"data.split.{name}", low=0, high=1, high_open=True)
            sizes[name] = round(fraction * n)
    return sizes


def split(
    source: Arrays,
    fractions: dict[str, float | None],
    seed: int,
    target: Arrays | None = None,
    target_in_train: int = 0,
) -> dict[str, Arrays]:
    """Split the data into train / train_dev / dev / test (train_dev may be empty when its fraction is 0).

    Without ``target``: every split comes from ``source``. With ``target``: train and train_dev from ``source``,
    dev and test from ``target``, and ``target_in_train`` more target examples join train.
    """
    x, y = source
    if target is None:
        if target_in_train:
            raise UserError("data.target_in_train needs a target distribution (this data set has none)")
        sizes = held_out_sizes(len(y), fractions)
        rest, test = _take(np.arange(len(y)), y, sizes["test"], seed, "test")
        rest, dev = _take(rest, y, sizes["dev"], seed, "dev")
        train, train_dev = _take(rest, y, sizes["train_dev"], seed, "train_dev")
        parts = {"train": train, "train_dev": train_dev, "dev": dev, "test": test}
        out = {name: (x[idx], y[idx]) for name, idx in parts.items()}
    else:
        tx, ty = target
        src = held_out_sizes(len(y), {"train_dev": fractions["train_dev"]})
        tgt = held_out_sizes(len(ty), {"dev": fractions["dev"], "test": fractions["test"]})
        train, train_dev = _take(np.arange(len(y)), y, src["train_dev"], seed, "train_dev")
        pool, test = _take(np.arange(len(ty)), ty, tgt["test"], seed, "test")
        pool, dev = _take(pool, ty, tgt["dev"], seed, "dev")
        check_number(target_in_train, "data.target_in_train", low=0, high=len(pool), integer=True)
        _, moved = _take(pool, ty, target_in_train, seed, "target_in_train")
        out = {
            "train": (np.concatenate([x[train], tx[moved]]), np.concatenate([y[train], ty[moved]])),
            "train_dev": (x[train_dev], y[train_dev]),
            "dev": (tx[dev], ty[dev]),
            "test": (tx[test], ty[test]),
        }
    for name in ("train", "dev", "test"):
        if len(out[name][1]) == 0:
            raise UserError(f"the {name} split is empty: too little data or data.split fractions too large")
    return out


def _take(idx: np.ndarray, y: np.ndarray, k: int, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, k stratified examples)."""
    from sklearn.model_selection import train_test_split

    if k == 0:
        return idx, idx[:0]
    if k == len(idx):
        return idx[:0], idx
    if k > len(idx):
        raise UserError(f"not enough data for the {name} split ({k} wanted, {len(idx)} left)")
    labels = y[idx]
    counts = np.unique(labels, return_counts=True)[1]
    # Stratify when every class can appear on both sides; tiny sets fall back to a plain seeded shuffle.
    stratify = labels if counts.min() >= 2 and len(counts) <= min(k, len(idx) - k) else None
    rest, taken = train_test_split(idx, test_size=k, random_state=seed, stratify=stratify)
    return np.sort(rest), np.sort(taken)
