"""Data larger than a run's memory: `data=npy` on disk against `data.in_memory=true`, on one synthetic set.

The set: --rows examples of --features float32 numbers (800,000 x 1,000 = 3.2 GB by default), standard normal, in one
.npy file written a block at a time (numpy's open_memmap), labelled by a fixed random linear teacher into 10 classes
(argmax of x W), seeded. Each way trains `model=mlp` (hidden 100, 100) for --epochs on 1 thread in a process of its
own; measured: the process's peak resident memory (its own rusage, os.wait4), its wall time, and the training
throughput of the first epoch (training examples / the epoch's seconds in history.csv, dev evaluation included).
Both runs see the same splits and give the same figures (tests/data/test_npy.py holds that on a small set); the file
is read from the operating system's page cache once it has been read once, so on a machine whose memory cannot cache
it the disk's own speed bounds the on-disk run. Hashing the file (its sha256 is recorded by every run) is part of the
wall time of both.

    python bench/disk_data.py [--rows 800000] [--features 1000] [--epochs 1] [--folder DIR] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 50_000  # rows generated and written at a time


def write_set(folder: Path, rows: int, features: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=(features, 10)).astype(np.float32)
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(rows, features))
    y = np.empty(rows, dtype=np.int64)
    for lo in range(0, rows, BLOCK):
        block = rng.normal(size=(min(BLOCK, rows - lo), features)).astype(np.float32)
        x[lo:lo + len(block)] = block
        y[lo:lo + len(block)] = (block @ teacher).argmax(axis=1)
    x.flush()
    del x
    np.save(folder / "y.npy", y)
    return folder / "x.npy", folder / "y.npy"


def run(folder: Path, x: Path, y: Path, epochs: int, name: str, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "dltool", "train", "data=npy", f"data.path={x}", f"data.labels={y}",
               "model=mlp", "model.hidden=[100,100]", f"trainer.max_epochs={epochs}", "trainer.threads=1",
               "trainer.baseline=false", *extra, "--runs-dir", str(folder / "runs"), "--name", name, "--json"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            err.seek(0)
            raise SystemExit(f"{name}: dltool train failed (status {status}): {err.read()[-2000:]}")
    metrics = json.loads(out)
    first = next(csv.DictReader((folder / "runs" / name / "history.csv").open()))
    n_train = metrics["splits"]["train"]["n"]
    return {"wall": wall, "rss_gb": usage.ru_maxrss / 2 ** 20, "per_s": n_train / float(first["seconds"]),
            "dev": metrics["splits"]["dev"]["error"], "test": metrics["splits"]["test"]["error"], "n_train": n_train}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=800_000)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=None, help="where to write the set (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the set and the runs")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="dltool-disk-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        # written by a process of its own: pages this one mapped would count in each run's peak (a child's peak
        # resident memory starts from its parent's at the fork)
        writer = multiprocessing.get_context("spawn").Process(target=write_set, args=(folder, args.rows, args.features))
        writer.start()
        writer.join()
        if writer.exitcode != 0:
            raise SystemExit(f"writing the set failed (exit code {writer.exitcode})")
        x, y = folder / "x.npy", folder / "y.npy"
        size = x.stat().st_size / 2 ** 30
        print(f"set: {args.rows:,} x {args.features:,} float32, {size:.2f} GiB, written in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
        results = {"on disk (data=npy)": run(folder, x, y, args.epochs, "disk", []),
                   "in memory (data.in_memory=true)": run(folder, x, y, args.epochs, "memory",
                                                          ["data.in_memory=true"])}
        print(f"{args.rows:,} x {args.features:,} float32 ({size:.2f} GiB on disk), MLP 100-100, "
              f"{args.epochs} epoch(s), 1 thread")
        print("| inputs | peak memory (GiB) | training examples/s | wall s | dev error | test error |")
        print("|---|---|---|---|---|---|")
        for way, r in results.items():
            print(f"| {way} | {r['rss_gb']:.2f} | {r['per_s']:,.0f} | {r['wall']:.0f} | {r['dev']:.4f} | "
                  f"{r['test']:.4f} |")
        disk, memory = results.values()
        print(f"on disk: {disk['rss_gb'] / size:.2f} x the set's size in memory, {disk['per_s'] / memory['per_s']:.2f} x "
              f"the in-memory throughput")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
