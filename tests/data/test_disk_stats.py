"""The memory bound of streamed normalization statistics (data=npy): ``standardizer`` of a split on disk holds a few
chunks at a time, never the whole split, and still gives the whole split's mean and std.

A past bug gathered every chunk at once (a tuple of them) before the statistics: the numbers stayed right, so only a
benchmark's peak memory showed it. Here the split is cut into many small chunks (CHUNK_BYTES made tiny), and the test
counts the chunks alive at the same time (a finalizer on each) and the peak of numpy's allocations (tracemalloc sees
every array read from disk), both of which grow with the number of chunks if the split is held whole.
"""

from __future__ import annotations

import tracemalloc
import weakref

import numpy as np
import torch

from dltool.data import disk
from dltool.data.disk import OnDevice, Rows, Shards
from dltool.tasks.base import standardizer

ROWS, FEATURES, CHUNK_ROWS = 4096, 64, 64  # 1 MiB of float32 rows, 64 chunks of 16 KiB


def test_streamed_statistics_hold_a_bounded_number_of_chunks_and_equal_numpys(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(ROWS, FEATURES)) * rng.uniform(0.1, 10, FEATURES) + rng.normal(0, 5, FEATURES))
    x = x.astype(np.float32)
    x[:, 3] = 2.5  # a constant feature: std 1
    np.save(tmp_path / "x.npy", x)
    split = OnDevice(Rows(Shards([tmp_path / "x.npy"])), "cpu", torch.float32)
    chunk_bytes = CHUNK_ROWS * FEATURES * 4
    monkeypatch.setattr(disk, "CHUNK_BYTES", chunk_bytes)

    alive = {"now": 0, "most": 0, "read": 0}

    def freed():
        alive["now"] -= 1

    chunks = OnDevice.chunks

    def counted(self, size=None):
        for chunk in chunks(self, size):
            alive["now"] += 1
            alive["read"] += 1
            alive["most"] = max(alive["most"], alive["now"])
            weakref.finalize(chunk, freed)
            yield chunk
            del chunk  # this wrapper holds no chunk while the statistics run

    monkeypatch.setattr(OnDevice, "chunks", counted)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        mean, std = standardizer(split)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert alive["read"] == ROWS // CHUNK_ROWS  # the split was streamed in many chunks, each read once
    # at most the first chunk, the one just used and the one just read: never a number that grows with the split
    assert alive["most"] <= 3, f"{alive['most']} of {alive['read']} chunks were alive at once"
    assert alive["now"] == 0
    # numpy's reads from disk at their peak: a few chunks, far below the 1 MiB split
    assert peak < 8 * chunk_bytes, f"peak of {peak} bytes for chunks of {chunk_bytes} (the split: {x.nbytes})"

    whole = x.astype(np.float64)
    want_std = whole.std(axis=0, ddof=1)
    want_std[want_std <= 1e-8] = 1
    np.testing.assert_allclose(mean.numpy(), whole.mean(axis=0), rtol=0, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), want_std, rtol=1e-6)
    assert mean.dtype == std.dtype == torch.float32 and std[3] == 1
