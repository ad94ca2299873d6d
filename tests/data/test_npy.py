"""Data on disk (data=npy): rows read from .npy files and shards exactly as numpy holds them, a batch read without
the rest, streamed normalization statistics, and runs on disk that equal runs in memory number for number."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch

from dltool.config import compose
from dltool.data import load_data
from dltool.data import disk
from dltool.data.disk import OnDevice, Rows, Shards
from dltool.errors import UserError
from dltool.tasks.base import standardizer
from tests.conftest import invoke


@pytest.fixture
def arrays(tmp_path):
    """300 rows of 20 float32 features in one file and in three shards of 100, 120 and 80 rows; labels."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20)).astype(np.float32)
    y = rng.integers(0, 3, size=300) * 10  # labels 0, 10, 20: the classes are their sorted values
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "xs").mkdir()
    (tmp_path / "ys").mkdir()
    for i, (lo, hi) in enumerate([(0, 100), (100, 220), (220, 300)]):
        np.save(tmp_path / "xs" / f"part-{i}.npy", x[lo:hi])
        np.save(tmp_path / "ys" / f"part-{i}.npy", y[lo:hi])
    return tmp_path, x, y


def test_rows_are_read_as_numpy_holds_them_in_the_order_asked(arrays):
    folder, x, _ = arrays
    one, shards = Shards([folder / "x.npy"]), Shards(sorted((folder / "xs").glob("*.npy")))
    rows = np.array([299, 0, 99, 100, 101, 219, 220, 5, 5, 150])  # shard edges, a repeat, out of order
    for source in (one, shards):
        np.testing.assert_array_equal(source.read(rows), x[rows])
        assert source.read(np.array([], dtype=np.int64)).shape == (0, 20)
    view = Rows(shards)[np.arange(50, 250)][10:20]  # indices compose: rows 60..69
    assert view.shape == (10, 20) and np.array_equal(view.index, np.arange(60, 70))
    np.testing.assert_array_equal(np.asarray(view), x[60:70])
    np.testing.assert_array_equal(view[3], x[63])


def test_long_runs_of_rows_are_read_in_pieces(arrays, monkeypatch):
    """One read holds at most MAX_READ bytes (Linux's read stops at 2 GiB): a whole split in pieces of 3 rows."""
    folder, x, _ = arrays
    monkeypatch.setattr(disk, "MAX_READ", 3 * 20 * 4)
    shards = Shards(sorted((folder / "xs").glob("*.npy")))
    np.testing.assert_array_equal(shards.read(np.arange(300)), x)
    np.testing.assert_array_equal(shards.read(np.arange(95, 230)), x[95:230])


def test_a_batch_reads_its_own_rows_and_no_others(arrays, monkeypatch):
    folder, x, _ = arrays
    read = []
    real = os.pread
    monkeypatch.setattr(disk.os, "pread", lambda fd, n, offset: read.append(n) or real(fd, n, offset))
    on_device = OnDevice(Rows(Shards(sorted((folder / "xs").glob("*.npy")))), "cpu", torch.float32)
    batch = on_device[torch.tensor([7, 3, 250, 4, 5])]
    torch.testing.assert_close(batch, torch.from_numpy(x[[7, 3, 250, 4, 5]]))
    assert sum(read) == 5 * 20 * 4 and len(read) == 3  # 20 floats a row; rows 3-5 in one read, 7, 250


def test_statistics_streamed_over_chunks_equal_those_of_the_whole_split(arrays, monkeypatch):
    folder, x, _ = arrays
    on_device = OnDevice(Rows(Shards([folder / "x.npy"])), "cpu", torch.float32)
    whole = standardizer(torch.from_numpy(x))
    for chunk in (7, 64, 1000):  # rows a chunk: many of uneven size, and one (the tensor computation itself)
        monkeypatch.setattr(disk, "CHUNK_BYTES", chunk * 20 * 4)
        streamed = standardizer(on_device)
        torch.testing.assert_close(streamed[0], whole[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(streamed[1], whole[1], rtol=1e-6, atol=0)


def test_a_run_on_disk_equals_the_run_in_memory_and_on_shards(arrays, monkeypatch):
    folder, _, y = arrays
    common = ["train", "data=npy", "model=mlp", "model.hidden=[16]", "trainer.max_epochs=3", "--runs-dir",
              folder / "runs", "--json"]
    results = {}
    for name, where in (("disk", ["data.path=x.npy", "data.labels=y.npy"]),
                        ("memory", ["data.path=x.npy", "data.labels=y.npy", "data.in_memory=true"]),
                        ("shards", ["data.path=xs", "data.labels=ys"])):
        monkeypatch.chdir(folder)
        result = invoke(*common, *where, "--name", name)
        assert result.exit_code == 0, result.stderr
        results[name] = json.loads(result.stdout)
        results[name]["history"] = (folder / "runs" / name / "history.csv").read_text().splitlines()
    for name in ("memory", "shards"):
        assert results[name]["splits"] == results["disk"]["splits"]
        assert [r.rsplit(",", 1)[0] for r in results[name]["history"]] == \
            [r.rsplit(",", 1)[0] for r in results["disk"]["history"]]  # every figure but the seconds
    assert results["disk"]["baseline"] is None and results["memory"]["baseline"] is not None  # not read whole
    data = load_data(compose(["data=npy", f"data.path={folder / 'x.npy'}", f"data.labels={folder / 'y.npy'}"]).data, 0)
    assert data.classes == ["0", "10", "20"] and isinstance(data.splits["train"]["x"], Rows)
    assert sum(len(s["y"]) for s in data.splits.values()) == 300
    assert data.sources["labels"]["bytes"] == (folder / "y.npy").stat().st_size
    sheet = invoke("errors", folder / "runs" / "disk", "--n", "4")  # the sampled rows only are read for the sheet
    assert sheet.exit_code == 0, sheet.stderr


def test_files_that_do_not_fit_are_one_line(arrays, monkeypatch):
    folder, x, y = arrays
    np.save(folder / "short.npy", y[:10])
    np.save(folder / "fortran.npy", np.asfortranarray(x[:, :5]))
    np.save(folder / "halves.npy", (y + 1) / 2)  # 0.5, 5.5, 10.5
    np.save(folder / "objects.npy", np.array([{"a": 1}] * 300, dtype=object), allow_pickle=True)
    (folder / "text.npy").write_text("not numpy")
    (folder / "empty").mkdir()
    np.save(folder / "xs" / "part-9.npy", x[:5, :2])
    for path, labels, message in (
            ("nope.npy", "y.npy", "data file not found: nope.npy (data.path: a .npy file or a folder of .npy shards)"),
            ("x.npy", "short.npy", "data.path has 300 rows and data.labels 10: give one label a row"),
            ("fortran.npy", "y.npy", "is in Fortran order; save it C-ordered"),
            ("x.npy", "halves.npy", "holds fractional or non-finite numbers: give class labels"),
            ("objects.npy", "y.npy", "holds Python objects: give an array of numbers"),
            ("text.npy", "y.npy", "is not a NumPy .npy file"),
            ("empty", "y.npy", "data.path=empty: the folder holds no .npy files"),
            ("xs", "y.npy", "the shards in xs differ in row shape or dtype"),
            ("x.npy", "x.npy", "data.labels=x.npy holds rows of shape (20,): give one label a row")):
        monkeypatch.chdir(folder)
        with pytest.raises(UserError, match=re.escape(message)):
            load_data(compose(["data=npy", f"data.path={path}", f"data.labels={labels}"]).data, 0)
    with pytest.raises(UserError, match="data=npy needs data.path"):
        load_data(compose(["data=npy"]).data, 0)
