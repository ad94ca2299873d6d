"""How fast, and in how much memory, dltool reads a user's CSV table: the pure-Python reader it had (a copy is kept
below as the baseline) against dltool.data.csv.read_table (pandas' C parser, in chunks, into one float32 array).

Generates a seeded table of about --mb megabytes (--features numeric columns written as %.5f, one string label column
of five classes), then reads it once with each reader, each in a fresh subprocess: wall time of the read, and peak
resident memory (getrusage's ru_maxrss) less the process's resident memory once its imports are done, i.e. what the
read itself adds. Both readers must return the same features and labels (checked by digest).

Run from the repository root with the venv active:
    python bench/csv_read.py [--mb 50] [--features 20] [--seed 0] [--keep table.csv]

Measured (a 2-core container, Python 3.11, pandas 3.1.1 without pyarrow, numpy 2.4; peak = added to the imports):
    default, --mb 50 (50.0 MB, 251,574 rows x 20 features):
        python csv   1.90 s    401 MB peak (8.0x the file)
        pandas       0.30 s     47 MB peak (0.9x the file; the float32 result alone is 20 MB)
        6.3x faster, 8.5x less memory
    --mb 200 (200.0 MB, 1,006,288 rows x 20 features):
        python csv  10.53 s  1,640 MB peak (8.2x the file)
        pandas       1.13 s    114 MB peak (0.6x the file; the result is 80 MB)
        9.3x faster, 14.4x less memory
pyarrow.csv.read_csv (pyarrow 26.0) was tried on the same 200 MB table in a prototype: 0.8 s with both cores, but
285 MB over its imports (its whole table, then the float32 copy), where pandas, read in chunks into the final array,
adds about 110 MB: pandas it is (and one dependency, not a 40 MB wheel besides).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "eel", "fox", "gnu"]


def generate(path: Path, megabytes: float, features: int, seed: int) -> int:
    """Write a table of about ``megabytes`` MB; return its number of data rows."""
    rng = np.random.default_rng(seed)
    target, written, rows = megabytes * 1e6, 0, 0
    with path.open("w", newline="") as f:
        written += f.write(",".join([f"f{i}" for i in range(features)] + ["label"]) + "\n")
        while written < target:
            x = rng.normal(size=(10_000, features)) * 100
            labels = rng.integers(0, len(CLASSES), size=len(x))
            lines = []
            for row, label in zip(x, labels):
                lines.append(",".join(f"{v:.5f}" for v in row) + "," + CLASSES[label] + "\n")
                written += len(lines[-1])
                rows += 1
                if written >= target:
                    break
            f.write("".join(lines))
    return rows


def python_reader(path: str | Path, target: str) -> tuple[list[str], np.ndarray, list[str]]:
    """The baseline: dltool.data.csv.read_table as it was before pandas (its errors shortened to ValueError)."""
    path = Path(path)
    with path.open(newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    header = [h.strip() for h in rows[0]]
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    labels = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path} line {r} has {len(row)} fields, the header has {len(header)}")
        values = [v for i, v in enumerate(row) if i != t]
        for c, value in enumerate(values):
            x[r - 2, c] = float(value)
        label = row[t].strip()
        if not label:
            raise ValueError(f"{path} line {r}: the target column '{target}' is empty")
        labels.append(label)
    if not np.isfinite(x).all():
        raise ValueError(f"{path} has non-finite feature values (nan or inf)")
    return features, x, labels


def child(reader: str, path: str) -> None:
    """Read ``path`` with one reader in this (fresh) process; print seconds, memory and a digest as JSON."""
    if reader == "pandas":
        import pandas  # noqa: F401  (imported before the baseline is taken: the read is measured, not the import)

        from dltool.data.csv import read_table

        def read():
            table = read_table(path, "label")
            return table.x, table.labels[0], table.codes[:, 0]
    else:
        def read():
            _, x, labels = python_reader(path, "label")
            return x, labels, None

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    x, labels, codes = read()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    names = labels if codes is None else [labels[c] for c in codes]
    digest.update("\n".join(names).encode())
    print(json.dumps({"seconds": seconds, "peak_mb": (peak - base) / 1024, "rows": len(x), "digest": digest.hexdigest()}))


def measure(reader: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, "--child", reader, str(path)], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{reader} reader failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the generated table in MB (default 50)")
    parser.add_argument("--features", type=int, default=20, help="numeric columns (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the table here and keep it")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "table.csv"
        start = time.perf_counter()
        rows = generate(path, args.mb, args.features, args.seed)
        size = path.stat().st_size / 1e6
        print(f"table: {size:.1f} MB, {rows:,} rows x {args.features} features + label "
              f"(generated in {time.perf_counter() - start:.1f} s)")
        results = {reader: measure(reader, path) for reader in ("python", "pandas")}
    old, new = results["python"], results["pandas"]
    if old["digest"] != new["digest"] or old["rows"] != new["rows"]:
        sys.exit("the two readers disagree on the table's contents")
    for name, r in (("python csv", old), ("pandas", new)):
        print(f"  {name:<11} {r['seconds']:6.2f} s  {r['peak_mb']:7.0f} MB peak ({r['peak_mb'] / size:.1f}x the file)")
    print(f"  pandas: {old['seconds'] / new['seconds']:.1f}x faster, {old['peak_mb'] / new['peak_mb']:.1f}x less memory "
          f"(same features and labels)")


if __name__ == "__main__":
    main()
