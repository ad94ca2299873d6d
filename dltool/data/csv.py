"""The user's own table: one header row, numeric feature columns and one label column (strings or integers), or
several 0/1 label columns for task=multilabel (``data.target=[a,b,c]``; an empty cell is an unknown label, -1).

pandas' C parser reads the table in chunks straight into one float32 array: against Python's csv module, 6 to 10 times
faster, at a peak below the file's size (the result plus a chunk) rather than eight times it (``bench/csv_read.py``).
It says little about what is wrong with a bad file (and fills a short row with NaN), so when a chunk fails or
holds anything suspicious, the file is read again with Python's csv module, which names the line, the column and
the value of the first mistake. Only the error path pays for that second reading.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.sources import describe
from dltool.errors import UserError, first_line

# A feature value as the fast reader takes it: ASCII digits, an optional exponent, surrounding blanks; nan and inf
# are read too, to be named as such. Python's float() takes more (1_000, other scripts' digits): those stay errors.
NUMBER = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))\s*", re.ASCII)
OVERFLOW = 2.0**128 - 2.0**103  # the smallest float that rounds to inf in float32: halfway past its largest
CHUNK_VALUES = 1 << 20  # values per chunk of the fast reader: a few MB at a time, whatever the table's shape


LABEL_VALUES = {"1": 1, "0": 0, "": -1}  # a cell of a multi-label column: yes, no, unknown


@dataclass
class Table:
    """One file read: feature names, float32 rows, and for each label column its labels (stripped) as codes
    (``codes[:, j]`` into ``labels[j]``), where it came from."""

    features: list[str]
    x: np.ndarray
    labels: list[list[str]]
    codes: np.ndarray
    source: dict = field(default_factory=dict)


def read_table(path: str | Path, target: str | list[str]) -> Table:
    """Read ``path`` (relative to the current folder) with one label column ``target``, or several (a list: each
    cell 0, 1 or empty); any malformed input is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    several = not isinstance(target, str)
    targets = [str(t) for t in target] if several else [target]
    try:
        source, lines = _scan(path)
        header, first, first_line_no = _head(path)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or first_line(e)}") from e
    if first is None:
        raise UserError(f"{path} has no data rows (it needs a header row and at least one data row)")
    names = [h.strip() for h in header]
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        shown = ", ".join(name or "(empty)" for name in duplicates)
        raise UserError(f"{path} has duplicate column names: {shown} (each column needs its own name)")
    if several and (not targets or len(set(targets)) != len(targets)):
        raise UserError(f"data.target must name one label column, or several distinct ones, got {targets}")
    for name in targets:
        if name not in names:
            raise UserError(f"target column '{name}' is not in {path}; columns: {', '.join(names)}")
    ts = [names.index(name) for name in targets]
    features = [h for i, h in enumerate(names) if i not in ts]
    if not features:
        raise UserError(f"{path} has no feature columns besides {', '.join(repr(t) for t in targets)}")
    if len(first) != len(names):  # checked here: pandas would take an extra first field for an index
        raise UserError(f"{path} line {first_line_no} has {len(first)} fields, the header has {len(names)}")
    try:
        x, codes, labels = _parse(path, len(names), ts, lines, several)
    except _Suspect as suspect:
        _diagnose(path, names, ts, suspect.good_rows, several)
        raise UserError(f"cannot read {path} as CSV: {suspect.reason}") from None
    return Table(features, x, labels, codes, source)


def _scan(path: Path) -> tuple[dict, int]:
    """The file's provenance (sources.describe) and its number of newlines, in one pass over its bytes."""
    lines = 0

    def count(block: bytes) -> None:
        nonlocal lines
        lines += block.count(b"\n")

    return describe(path, count), lines


def _open(path: Path):
    return path.open(encoding="utf-8-sig", newline="")


def _blank(row: list[str]) -> bool:
    """A blank line, or one of blanks only: pandas skips both."""
    return not row or (len(row) == 1 and not row[0].strip())


def _records(path: Path):
    """(first line, fields) of each non-blank record; undecodable bytes and csv's own errors are UserErrors."""
    with _open(path) as f:
        reader = csv.reader(f)
        line = 0
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                if not _blank(row):
                    yield start, row
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except csv.Error as e:
            raise UserError(f"cannot read {path} as CSV: line {reader.line_num}: {e}") from None


def _head(path: Path) -> tuple[list[str], list[str] | None, int]:
    """The header row, the first data row (None when there is none) and that row's line number."""
    records = _records(path)
    header = next(records, (0, None))[1]
    line, first = next(records, (0, None))
    records.close()
    return header or [], first, line


def _not_utf8(path: Path) -> UserError:
    """Name the first line that is not UTF-8 (a multi-byte character never holds a newline byte, so lines decode
    one by one)."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return UserError(f"cannot read {path} as CSV: line {n} is not UTF-8 text "
                                 f"(byte 0x{raw[e.start]:02x}, byte {e.start + 1} of the line: {e.reason})")
    return UserError(f"cannot read {path} as CSV: it is not UTF-8 text")


class _Suspect(Exception):
    """The fast reader met something it cannot explain; rows before ``good_rows`` were fine."""

    def __init__(self, good_rows: int, reason: str):
        super().__init__(reason)
        self.good_rows, self.reason = good_rows, reason


def _parse(path: Path, width: int, ts: list[int], lines: int, several: bool = False) -> tuple[np.ndarray, np.ndarray,
                                                                                              list[list[str]]]:
    """Features (float32, one row per record), label codes (a column a label column) and the labels they index;
    _Suspect on anything amiss (a missing label, except in several 0/1 columns, where a cell may be empty).

    The rows go straight into an array sized by the newline count (the number of records, or more); pages past the
    last row are never touched, so they cost no memory."""
    import pandas as pd

    columns = [f"c{i}" for i in range(width)]  # positional: the header was read (and checked) already
    dtype = {c: np.float32 for c in columns}
    for t in ts:
        dtype[columns[t]] = str  # not "category": pandas would read labels 1e-3 and 0.001 as one number
    feature_columns = [c for i, c in enumerate(columns) if i not in ts]
    x = np.empty((lines + 1, width - len(ts)), dtype=np.float32)
    codes = np.empty((lines + 1, len(ts)), dtype=np.int64)
    labels: list[dict[str, int]] = [{} for _ in ts]
    n = 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a float32 overflow is diagnosed below, not warned about
        try:
            with pd.read_csv(path, engine="c", header=0, names=columns, dtype=dtype, keep_default_na=False,
                             encoding="utf-8", skip_blank_lines=True, chunksize=max(1, CHUNK_VALUES // width)) as chunks:
                for chunk in chunks:
                    m = len(chunk)
                    if n + m > len(x):  # lines that end in a lone \r: more rows than newlines
                        x, codes = _grow(x, n, n + m), _grow(codes, n, n + m)
                    block = x[n:n + m]
                    for j, c in enumerate(feature_columns):
                        block[:, j] = chunk[c].to_numpy()
                    if not np.isfinite(block).all():  # nan, inf, a float32 overflow, a short row's missing fields
                        raise _Suspect(n, "a feature value is not a finite float32")
                    for j, t in enumerate(ts):
                        found, distinct = pd.factorize(chunk[columns[t]].array)  # a missing field: code -1
                        stripped = [str(v).strip() for v in distinct]
                        if (found < 0).any() or not (several or all(stripped)):
                            raise _Suspect(n, "a label is missing")
                        if several and not set(stripped) <= set(LABEL_VALUES):
                            raise _Suspect(n, "a label is not 0, 1 or empty")
                        seen = labels[j]
                        lookup = np.array([seen.setdefault(v, len(seen)) for v in stripped], dtype=np.int64)
                        codes[n:n + m, j] = lookup[found]
                    n += m
        except (ValueError, OverflowError) as e:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
            raise _Suspect(n, first_line(e)) from None
    if n == 0:
        raise _Suspect(0, "no data rows")
    return x[:n], codes[:n], [list(seen) for seen in labels]


def _grow(a: np.ndarray, used: int, need: int) -> np.ndarray:
    bigger = np.empty((max(need, 2 * len(a)), *a.shape[1:]), dtype=a.dtype)
    bigger[:used] = a[:used]
    return bigger


def _diagnose(path: Path, names: list[str], ts: list[int], good_rows: int, several: bool = False) -> None:
    """Read the file again with Python's csv module and raise a UserError naming the first mistake after
    ``good_rows`` data rows (those the fast reader accepted); returns if it finds none."""
    records = _records(path)
    try:
        next(records)  # the header
        for r, (line, row) in enumerate(records):
            if r < good_rows:
                continue
            if len(row) != len(names):
                raise UserError(f"{path} line {line} has {len(row)} fields, the header has {len(names)}")
            for i, value in enumerate(row):
                if i not in ts:
                    problem = _feature_problem(value)
                    if problem:
                        raise UserError(f"{path} line {line}, column '{names[i]}': {problem}")
            for t in ts:
                if several and row[t].strip() not in LABEL_VALUES:
                    raise UserError(f"{path} line {line}, label column '{names[t]}': {row[t].strip()!r} is not 0, 1 "
                                    "or empty (unknown)")
                if not several and not row[t].strip():
                    raise UserError(f"{path} line {line}: the target column '{names[t]}' is empty")
    finally:
        records.close()


def _feature_problem(value: str) -> str | None:
    """What is wrong with one feature value, or None."""
    if not NUMBER.fullmatch(value):
        return f"{value!r} is not a number"
    number = float(value)
    shown = value.strip()
    if number != number or (abs(number) == np.inf and shown.lstrip("+-").isalpha()):  # nan or inf, as written
        return f"{shown} is not a finite number (a feature cannot be nan or inf)"
    if abs(number) >= OVERFLOW:  # a finite value (1e308, even 1e400) past float32's range
        return f"{shown} is too large for float32 (at most 3.4e38)"
    return None


def _class_order(labels: set[str]) -> list[str]:
    """Integer-like labels sort numerically (2 before 10), others alphabetically."""
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


def load(cfg) -> Pools:
    several = not isinstance(cfg.target, str)  # a list of label columns: several yes/no labels an example
    target_names = [str(t) for t in cfg.target] if several else cfg.target
    source = read_table(cfg.path, target_names)
    tables = {"path": source}
    if cfg.target_path is not None:
        tables["target_path"] = read_table(cfg.target_path, target_names)
        if tables["target_path"].features != source.features:
            raise UserError(f"{cfg.target_path} must have the same columns as {cfg.path}")
    if several:
        classes = list(target_names)

        def y(table: Table) -> np.ndarray:  # (n, K): 1, 0, or -1 for an empty cell
            columns = [np.array([LABEL_VALUES[v] for v in table.labels[j]], dtype=np.int64)[table.codes[:, j]]
                       for j in range(len(classes))]
            return np.stack(columns, axis=1)

        for key, table in tables.items():
            labels = y(table)
            for j, name in enumerate(classes):
                if (labels[:, j] < 0).all():
                    raise UserError(f"label column '{name}' of {cfg[key]} is empty in every row: nothing to learn "
                                    "for it (drop it from data.target)")
    else:
        classes = _class_order({label for table in tables.values() for label in table.labels[0]})
        index = {c: i for i, c in enumerate(classes)}

        def y(table: Table) -> np.ndarray:
            return np.array([index[label] for label in table.labels[0]], dtype=np.int64)[table.codes[:, 0]]

    sources = {key: table.source for key, table in tables.items()}
    target = tables.get("target_path")
    if target is None:
        return Pools(source.x, y(source), classes, sources=sources, stratify=not several)
    return Pools(source.x, y(source), classes, target.x, y(target), sources=sources, stratify=not several)
