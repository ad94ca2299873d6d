"""Data sets: each loader returns a source pool (and optionally a target pool); splitting is shared. What a run gets
is arrays and nothing else: per split a dict of numpy arrays sharing their first dimension (one row an example), and a
small ``info`` (the class names, a vocabulary, ...) that the task reads and every checkpoint keeps."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from dltool.data.disk import Rows
from dltool.data.sources import check_sources  # noqa: F401  (dltool.data.check_sources)
from dltool.data.splits import split, subset
from dltool.errors import UserError, check_bool, check_number, choices
from dltool.metrics import SPLITS

LOADERS = ("mnist1d", "digits", "csv", "synthetic", "canvas", "names", "dates", "digit_strings",
           "entities", "wiki", "volumes", "polarity", "npy")  # module names under dltool.data


@dataclass
class Pools:
    """What a loader returns: inputs ``x`` and integer targets ``y`` (a label an example, or a label a pixel: a mask),
    with an optional second (target) distribution. ``extra`` holds more arrays of one row an example (a canvas's
    boxes); ``stratify`` says whether ``y`` is one label an example, which the splits keep the proportions of.
    ``tokens``: ``x`` holds integer ids (characters of a name), kept as int64, never float32: ids are not magnitudes,
    so nothing standardizes them. ``info`` adds to the Dataset's info (a vocabulary)."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    target_x: np.ndarray | None = None
    target_y: np.ndarray | None = None
    sources: dict[str, dict] = field(default_factory=dict)  # see Dataset.sources
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    stratify: bool = True
    tokens: bool = False
    info: dict = field(default_factory=dict)


@dataclass
class Dataset:
    """The four splits as in-memory arrays (``{"x": float32 inputs, "y": int64 labels}`` each; int64 ``x`` for token
    ids, ``Pools.tokens``) plus what the run needs
    to know about the data: ``info`` for the task (``classes``), the human-level proxy, the files it came from."""

    splits: dict[str, dict[str, np.ndarray]]
    info: dict
    human_error: float | None
    # The files the data was read from, by config key ("path", "target_path"): {"path": absolute path, "sha256": hex
    # digest of the bytes, "bytes": size}. Empty for generated data (mnist1d, digits, synthetic). See sources.py.
    sources: dict[str, dict] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits["train"]["x"].shape[1:])

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]


def load_data(cfg, seed: int) -> Dataset:
    """Load the data set that ``cfg`` (the ``data`` config group) describes and split it with ``seed``, or with
    ``data.split.seed`` where that is set: runs of other seeds (other inits) on the same examples, as the members of
    an ensemble (dltool.ensemble) must be."""
    split_seed = cfg.split.get("seed")
    if split_seed is not None:
        check_number(split_seed, "data.split.seed", integer=True)
        seed = int(split_seed)
    loader = cfg.loader
    if loader not in LOADERS:
        raise UserError(f"unknown data loader '{loader}'; choose from: {choices(LOADERS)}")
    human = cfg.human_error
    if human is not None:
        check_number(human, "data.human_error", low=0, high=1)
    check_bool(cfg.normalize, "data.normalize")  # read by the task
    pools = importlib.import_module(f"dltool.data.{loader}").load(cfg)
    if pools.x[0].size == 0:
        raise UserError("the data has no features")
    if len(np.unique(pools.y)) < 2:
        raise UserError("the data has only one class: classification needs at least two")
    if check_bool(cfg.get("shuffle_features", False), "data.shuffle_features"):
        pools = _shuffle_features(pools, seed)

    x_type = np.int64 if pools.tokens else np.float32

    def arrays(x, y, extra):  # no copy where the dtype is already so; inputs on disk stay there (data=npy)
        x = x if isinstance(x, Rows) else np.asarray(x, dtype=x_type)
        return {"x": x, "y": np.asarray(y, dtype=np.int64), **extra}

    target = None if pools.target_x is None else arrays(pools.target_x, pools.target_y, {})
    fractions = {k: v for k, v in cfg.split.items() if k not in ("train_size", "seed")}
    unseen = unseen_classes(cfg.get("unseen"), pools.classes)
    parts = split(arrays(pools.x, pools.y, pools.extra), fractions, seed, target=target,
                  target_in_train=cfg.get("target_in_train", 0), stratify="y" if pools.stratify else None,
                  unseen=unseen)
    if cfg.split.train_size is not None:
        parts["train"] = subset(parts["train"], cfg.split.train_size, seed)
    info = {"classes": pools.classes, **pools.info, **({"unseen": list(unseen)} if unseen else {})}
    return Dataset({name: parts[name] for name in SPLITS}, info, human, pools.sources)


def unseen_classes(names, classes: list[str]) -> tuple[int, ...]:
    """The indices of the classes ``data.unseen`` names (held out of train and train-dev: identities for one-shot
    recognition, task=verify); a name that is no class is a UserError naming the classes. None or [] = none."""
    if names is None:
        return ()
    if isinstance(names, (str, int)) or not hasattr(names, "__iter__"):
        names = [names]
    wanted = [str(name) for name in names]
    unknown = [name for name in wanted if name not in [str(c) for c in classes]]
    if unknown:
        raise UserError(f"unknown class '{unknown[0]}' in data.unseen; classes: {choices([str(c) for c in classes])}")
    held = tuple(sorted({[str(c) for c in classes].index(name) for name in wanted}))
    if len(classes) - len(held) < 2:
        raise UserError(f"data.unseen holds out {len(held)} of the {len(classes)} classes: training needs at least two")
    return held


def _shuffle_features(pools: Pools, seed: int) -> Pools:
    """The same random permutation of the feature positions for every example (source and target alike)."""
    import numpy as np

    shape = pools.x.shape[1:]
    perm = np.random.default_rng(seed).permutation(int(np.prod(shape)))

    def apply(x):
        return None if x is None else x.reshape(len(x), -1)[:, perm].reshape(len(x), *shape)

    return Pools(apply(pools.x), pools.y, pools.classes, apply(pools.target_x), pools.target_y, pools.sources)
