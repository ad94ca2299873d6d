"""What a process that trains many runs one after another (a tuning study's worker) reuses between them: the loaded
and split data set, its copy on the device, the standardization statistics, the logistic-regression baseline and the
Lightning Fabric of a one-process run (it holds nothing of a run; building one cost 5 ms a run).

None of these depend on a trial's parameters unless the trial changes the data, so each is kept under the key of what
determines the data: the whole ``data`` config group (resolved) and the run's seed, the two things
``dltool.data.load_data`` reads. A trial that changes any ``data.*`` key (``data.train_size``, an augmentation) or the
seed gets a fresh load: the store holds one data set at a time and drops everything of the previous one on a miss. A
data set read from files is reloaded when a file's size or modification time has changed since it was read.

Off by default (``dltool train`` trains once, and a library caller's memory is its own): ``with reuse():`` turns it on
for the block (dltool.tune.trials.work). A hit gives the same arrays as a fresh load, and every run gets its own
``info`` (a task adds to it) and its own copies of the statistics (they become the module's buffers)."""

from __future__ import annotations

import copy
import json
import os
from contextlib import contextmanager
from typing import Callable

__all__ = ["active", "data_key", "load", "remember", "reuse"]


class _Store:
    """One data key's entries: "data" (the Dataset as loaded), and what was computed from it."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.entries: dict = {}
        self.stamps: dict[str, tuple[int, int] | None] = {}  # source path -> (size, mtime) when it was read
        self.hits = self.misses = 0

    def switch(self, key: str) -> None:
        """Start over for ``key``: what was kept for another data set goes (a GPU's copy too)."""
        self.key, self.entries, self.stamps = key, {}, {}


_store: _Store | None = None


@contextmanager
def reuse():
    """Within the block, runs built in this process reuse what they share (see the module's doc); nested blocks
    share the outer one's store, and leaving the outermost frees it."""
    global _store
    outer = _store
    if outer is None:
        _store = _Store()
    try:
        yield _store
    finally:
        _store = outer


def active() -> _Store | None:
    return _store


def data_key(data_cfg, seed: int) -> str | None:
    """The key of what ``load_data(data_cfg, seed)`` returns, or None when nothing is reused (no ``reuse`` block)."""
    if _store is None:
        return None
    from omegaconf import OmegaConf

    try:
        group = OmegaConf.to_container(data_cfg, resolve=True) if OmegaConf.is_config(data_cfg) else data_cfg
    except Exception:  # a config load_data refuses: it says why, in its own words
        return None
    return json.dumps({"data": group, "seed": seed}, sort_keys=True, default=repr)


def load(key: str | None, loader: Callable, data_cfg, seed: int):
    """``loader(data_cfg, seed)`` (dltool.data.load_data), or the data set of an earlier call with the same key; the
    caller gets its own Dataset around the shared arrays, with its own ``info``."""
    store = _store
    if key is None or store is None:
        return loader(data_cfg, seed)
    if store.key == key and "data" in store.entries and _unchanged(store.stamps):
        store.hits += 1
        return _own(store.entries["data"])
    store.switch(key)  # before loading: the old data set is not kept alongside the new
    store.misses += 1
    data = loader(data_cfg, seed)
    store.stamps = {source["path"]: _stamp(source["path"]) for source in data.sources.values() if source.get("path")}
    store.entries["data"] = data
    return _own(data)


def remember(key: str | None, name: tuple, make: Callable, own: Callable = copy.deepcopy):
    """``make()``, kept under ``name`` beside the data set of ``key`` (which ``load`` put there); each caller gets
    ``own(value)`` (by default a deep copy: a caller may change what it gets)."""
    store = _store
    if key is None or store is None or store.key != key:
        return make()
    if name in store.entries:
        store.hits += 1
    else:
        store.entries[name] = make()
    return store.entries[name] if own is None else own(store.entries[name])


def _own(data):
    """A Dataset of its own around the same arrays: its own split dicts, info and sources."""
    from dltool.data import Dataset

    return Dataset({k: dict(arrays) for k, arrays in data.splits.items()}, copy.deepcopy(data.info), data.human_error,
                   copy.deepcopy(data.sources))


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _unchanged(stamps: dict) -> bool:
    return all(_stamp(path) == stamp for path, stamp in stamps.items())
