"""Examples that stay on disk: the rows of one ``.npy`` file or of a folder of shards, read a batch at a time.

``Rows`` is a split's inputs as an index array into the arrays on disk (the files' headers are read by numpy's own
``numpy.lib.format``, the data never as a whole): indexing a ``Rows`` by rows composes the indices (how the splitter
and ``data.split.train_size`` make their splits, so the same seeds give the same splits as in memory), and reading
happens when a batch is gathered: positioned reads (``os.pread``) of the batch's rows, in file order, runs of
adjacent rows in one read. The process holds the batch; the operating system's page cache keeps what fits of the
files, outside the process's memory. ``OnDevice`` is a ``Rows`` as the training loop sees a split's tensor: indexed
by a tensor of positions or by a slice, it gathers those rows into a tensor on the run's device, in the order asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dltool.errors import UserError

CHUNK_BYTES = 1 << 26  # bytes of rows a chunk when a whole split is streamed (normalization statistics): 64 MiB
MAX_READ = 1 << 28  # bytes a read at most (Linux reads at most 2 GiB at once)
HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class Shards:
    """The arrays of one or more ``.npy`` files (C order, one dtype, the same shape but the first dimension), read
    as one array of all their rows, the files in the given order."""

    def __init__(self, paths: list[Path]):
        self.paths, self.offsets, self.data_offsets, shapes, dtypes = list(paths), [0], [], [], []
        for path in self.paths:
            with path.open("rb") as f:
                try:
                    version = np.lib.format.read_magic(f)
                    if version not in HEADERS:
                        raise ValueError(f"format version {version[0]}.{version[1]}")
                    shape, fortran, dtype = HEADERS[version](f)
                except ValueError as e:
                    raise UserError(f"{path} is not a NumPy .npy file ({e}); save arrays with numpy.save") from e
                self.data_offsets.append(f.tell())
            if fortran and len(shape) > 1:
                raise UserError(f"{path} is in Fortran order; save it C-ordered (numpy.ascontiguousarray) to read "
                                "rows from it")
            if dtype.hasobject or not shape:
                raise UserError(f"{path} holds {'Python objects' if dtype.hasobject else 'a single number'}: give an "
                                "array of numbers, one row an example")
            shapes.append(shape)
            dtypes.append(dtype)
            self.offsets.append(self.offsets[-1] + shape[0])
        if len({s[1:] for s in shapes}) > 1 or len(set(dtypes)) > 1:
            raise UserError(f"the shards in {paths[0].parent} differ in row shape or dtype "
                            f"({', '.join(sorted({f'{d}{tuple(s[1:])}' for s, d in zip(shapes, dtypes)}))})")
        self.row_shape, self.dtype = tuple(shapes[0][1:]), dtypes[0]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self.fds = [os.open(p, os.O_RDONLY) for p in self.paths]

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getstate__(self):  # a worker process opens the files anew
        return {k: v for k, v in self.__dict__.items() if k != "fds"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.fds = [os.open(p, os.O_RDONLY) for p in self.paths]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows (global indices) as a new array, in the order given: read in file order, adjacent rows at once."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8).reshape(len(rows), self.row_bytes) if len(rows) else out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1  # runs of adjacent rows
        for run in np.split(np.arange(len(rows)), breaks) if len(rows) else []:
            first, count = int(ordered[run[0]]), len(run)
            shard = int(np.searchsorted(self.offsets, first, side="right")) - 1
            while count:  # a run may cross into the next shard; one read holds at most MAX_READ bytes
                local = first - self.offsets[shard]
                take = min(count, self.offsets[shard + 1] - first, max(1, MAX_READ // max(self.row_bytes, 1)))
                data = os.pread(self.fds[shard], take * self.row_bytes, self.data_offsets[shard] + local * self.row_bytes)
                block = np.frombuffer(data, dtype=np.uint8).reshape(take, self.row_bytes)
                flat[order[run[:take]]] = block
                run, first, count = run[take:], first + take, count - take
                shard += first == self.offsets[shard + 1]
        return out


class Rows:
    """Some rows of ``Shards``: what a split's inputs are when they stay on disk. Indexing by rows (an index array,
    a slice) gives the ``Rows`` of those; an integer gives that row as an array; ``np.asarray`` reads them all."""

    def __init__(self, shards: Shards, index: np.ndarray | None = None):
        self.shards = shards
        self.index = np.arange(len(shards), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.shards.row_shape)

    @property
    def dtype(self) -> np.dtype:
        return self.shards.dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self.shards.row_shape)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.shards.read(self.index[[key]])[0]
        return Rows(self.shards, self.index[key])

    def read(self) -> np.ndarray:
        return self.shards.read(self.index)

    def __array__(self, dtype=None, copy=None):
        a = self.read()
        return a if dtype is None else a.astype(dtype, copy=False)

    def chunks(self, size: int | None = None):
        """The rows in order, ``size`` at a time (default: as many as CHUNK_BYTES hold), as arrays."""
        size = size or max(1, CHUNK_BYTES // max(self.shards.row_bytes, 1))
        for lo in range(0, len(self.index), size):
            yield self.shards.read(self.index[lo:lo + size])


class OnDevice:
    """``Rows`` as a split's tensor: ``x[positions]`` (a tensor or an array of positions in the split) and ``x[a:b]``
    give a tensor of those rows on ``device``; ``len``, ``shape``, ``device`` and ``is_floating_point`` as a tensor
    has them."""

    def __init__(self, rows: Rows, device, dtype=None):
        import torch

        self.rows, self.device = rows, torch.device(device)
        self.torch_dtype = dtype or torch.from_numpy(np.empty(0, dtype=rows.dtype)).dtype

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self):
        import torch

        return torch.Size(self.rows.shape)

    @property
    def dtype(self):
        return self.torch_dtype

    def dim(self) -> int:
        return self.rows.ndim

    def is_floating_point(self) -> bool:
        return self.torch_dtype.is_floating_point

    def __getitem__(self, key):
        import torch

        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, (int, np.integer)):
            return torch.from_numpy(self.rows[int(key)]).to(self.device, self.torch_dtype)
        return torch.from_numpy(self.rows[key].read()).to(self.device, self.torch_dtype)

    def to(self, device) -> "OnDevice":
        return OnDevice(self.rows, device, self.torch_dtype)

    def cpu(self) -> "OnDevice":
        return self.to("cpu")

    def chunks(self, size: int | None = None):
        """The rows in order, ``size`` at a time (default: as many as CHUNK_BYTES hold), as tensors on the device."""
        size = size or max(1, CHUNK_BYTES // max(self.rows.shards.row_bytes, 1))
        for lo in range(0, len(self), size):
            yield self[lo:lo + size]


def same_inputs(a, b) -> bool:
    """Whether two splits' inputs are the same examples in the same order: equal tensors, or the same rows of the
    same files on disk (compared by their indices, not read)."""
    import torch

    if isinstance(a, OnDevice) or isinstance(b, OnDevice):
        return (isinstance(a, OnDevice) and isinstance(b, OnDevice) and a.rows.shards.paths == b.rows.shards.paths
                and np.array_equal(a.rows.index, b.rows.index))
    return a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
