"""Train / train-dev / dev / test splits: stratified, seeded, sized by the amount of data.

The rule for default sizes (course 2: 60/20/20 for small data, 98/1/1 for millions): each held-out split gets a fixed
fraction of the data, capped at 10,000 examples, which is plenty to measure an error to a fraction of a percent:

    train_dev = min(10% of n, 10,000)     dev = test = min(15% of n, 10,000)

5,000 examples give 3,000 / 500 / 750 / 750 (60/10/15/15); a million give 970,000 / 10,000 / 10,000 / 10,000.
With a separate target distribution (course 3's data mismatch), train and train-dev come from the source, dev and test
from the target, and the fractions apply to each pool's own size.

Unseen classes (``data.unseen``, course 4's one-shot learning: identities never seen in training): every example of
those classes is held out of train and train-dev. The other classes are split as above, the fractions applying to
their own count; the unseen examples are shared between dev and test, half each (stratified, seeded). With no unseen
class the split is the one above, example for example.
"""

from __future__ import annotations

import numpy as np

from dltool.errors import UserError, check_number

CAP = 10_000
DEFAULT_FRACTIONS = {"train_dev": 0.10, "dev": 0.15, "test": 0.15}

Arrays = dict[str, np.ndarray]  # arrays sharing their first dimension, one row an example


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
    stratify: str | None = "y",
    unseen: tuple[int, ...] = (),
) -> dict[str, Arrays]:
    """Split the data into train / train_dev / dev / test (train_dev may be empty when its fraction is 0).

    ``source`` (and ``target``) are dicts of arrays sharing their first dimension, one row an example: every array
    is split alike. ``stratify`` names the array of labels each split keeps the proportions of (None: masks or other
    targets with no one label an example). Without ``target``: every split comes from ``source``. With ``target``:
    train and train_dev from ``source``, dev and test from ``target``, and ``target_in_train`` more target examples
    join train. ``unseen``: label values whose examples go only to dev and test (see the module doc).
    """
    n = len(next(iter(source.values())))
    labels = source[stratify] if stratify else None
    if unseen and labels is None:
        raise UserError("data.unseen needs one label an example (a class to hold out); this data has none")
    if target is None:
        if target_in_train:
            raise UserError("data.target_in_train needs a target distribution (this data set has none)")
        seen, held = _apart(np.arange(n), labels, unseen)
        sizes = held_out_sizes(len(seen), fractions)
        rest, test = _take(seen, labels, sizes["test"], seed, "test")
        rest, dev = _take(rest, labels, sizes["dev"], seed, "dev")
        train, train_dev = _take(rest, labels, sizes["train_dev"], seed, "train_dev")
        if len(held):  # half of the unseen examples to dev, half to test
            held_test, held_dev = _take(held, labels, len(held) // 2, seed, "dev (unseen classes)")
            dev, test = np.sort(np.concatenate([dev, held_dev])), np.sort(np.concatenate([test, held_test]))
        parts = {"train": train, "train_dev": train_dev, "dev": dev, "test": test}
        out = {name: {k: a[idx] for k, a in source.items()} for name, idx in parts.items()}
    else:
        nt = len(next(iter(target.values())))
        target_labels = target[stratify] if stratify else None
        seen, _ = _apart(np.arange(n), labels, unseen)  # the source's unseen examples are not used at all
        src = held_out_sizes(len(seen), {"train_dev": fractions["train_dev"]})
        tgt = held_out_sizes(nt, {"dev": fractions["dev"], "test": fractions["test"]})
        train, train_dev = _take(seen, labels, src["train_dev"], seed, "train_dev")
        pool, test = _take(np.arange(nt), target_labels, tgt["test"], seed, "test")
        pool, dev = _take(pool, target_labels, tgt["dev"], seed, "dev")
        pool, _ = _apart(pool, target_labels, unseen)  # nor do the target's move into train
        check_number(target_in_train, "data.target_in_train", low=0, high=len(pool), integer=True)
        _, moved = _take(pool, target_labels, target_in_train, seed, "target_in_train")
        out = {
            "train": {k: np.concatenate([a[train], target[k][moved]]) for k, a in source.items()},
            "train_dev": {k: a[train_dev] for k, a in source.items()},
            "dev": {k: a[dev] for k, a in target.items()},
            "test": {k: a[test] for k, a in target.items()},
        }
    for name in ("train", "dev", "test"):
        if len(next(iter(out[name].values()))) == 0:
            raise UserError(f"the {name} split is empty: too little data or data.split fractions too large")
    return out


def subset(train: Arrays, size, seed: int) -> Arrays:
    """``size`` examples of the training split, for a learning curve (course 3): a seeded permutation's first
    ``size``, so that with one seed a smaller subset lies inside every larger one and a curve's points differ only
    by the examples added. The other splits stay as they are."""
    n = len(next(iter(train.values())))
    check_number(size, "data.split.train_size", low=1, integer=True)
    if size > n:
        raise UserError(f"data.split.train_size={size} is more than the {n} examples of the training split")
    keep = np.sort(np.random.default_rng([seed, 2]).permutation(n)[:size])
    return {k: a[keep] for k, a in train.items()}


def _apart(idx: np.ndarray, y: np.ndarray | None, unseen) -> tuple[np.ndarray, np.ndarray]:
    """``idx`` parted into (examples of the other classes, examples of the ``unseen`` ones), order kept."""
    if not len(unseen):
        return idx, idx[:0]
    out = np.isin(y[idx], np.asarray(unseen))
    return idx[~out], idx[out]


def _take(idx: np.ndarray, y: np.ndarray | None, k: int, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, k examples), stratified on the labels ``y`` when there are some."""
    from sklearn.model_selection import train_test_split

    if k == 0:
        return idx, idx[:0]
    if k == len(idx):
        return idx[:0], idx
    if k > len(idx):
        raise UserError(f"not enough data for the {name} split ({k} wanted, {len(idx)} left)")
    stratify = None
    if y is not None:
        labels = y[idx]
        counts = np.unique(labels, return_counts=True)[1]
        # Stratify when every class can appear on both sides; tiny sets fall back to a plain seeded shuffle.
        stratify = labels if counts.min() >= 2 and len(counts) <= min(k, len(idx) - k) else None
    rest, taken = train_test_split(idx, test_size=k, random_state=seed, stratify=stratify)
    return np.sort(rest), np.sort(taken)
