"""Where a run's data came from: each file's absolute path, sha256 and size, and the check that evaluating a run
reads the same files it was trained on (a CSV edited since training would be split anew, silently)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from dltool.errors import UserError, first_line

BLOCK = 1 << 22  # bytes read at a time


def describe(path: str | Path, each_block: Callable[[bytes], None] | None = None) -> dict:
    """``{"path": absolute path, "sha256": hex digest of the bytes, "bytes": size}`` of one file, read once in blocks;
    ``each_block`` sees every block too (the CSV reader counts newlines in the same pass). A relative path is taken
    from the current folder. OSError propagates."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
            size += len(block)
            if each_block is not None:
                each_block(block)
    return {"path": os.path.abspath(path), "sha256": digest.hexdigest(), "bytes": size}


def check_sources(saved: dict, current: dict) -> None:
    """Raise a one-line UserError naming the first difference between the files a run was trained on (``saved``, its
    ``Dataset.sources``) and those read now (``current``); pass when they are the same. An empty ``saved`` (generated
    data, or a run from before sources were recorded) passes."""
    if not saved:
        return
    need = "evaluate needs the data the run was trained on"
    for key, then in saved.items():
        now = current.get(key)
        if now is None:
            raise UserError(f"the run was trained with data.{key}={then.get('path')}, which is not given now: {need}")
        if then.get("path") != now.get("path"):
            raise UserError(f"data.{key} is {now.get('path')} now but was {then.get('path')} in training: {need}")
        if then.get("sha256") != now.get("sha256") or then.get("bytes") != now.get("bytes"):
            raise UserError(
                f"data file {now.get('path')} changed since training (sha256 {_short(then.get('sha256'))} then, "
                f"{_short(now.get('sha256'))} now; {_size(then.get('bytes'))} bytes then, {_size(now.get('bytes'))} "
                f"now): {need}"
            )
    for key, now in current.items():
        if key not in saved:
            raise UserError(f"data.{key}={now.get('path')} was not part of the run's data in training: {need}")


def _short(digest) -> str:
    return f"{digest[:4]}..." if isinstance(digest, str) else str(digest)


def _size(n) -> str:
    return f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else str(n)


def read_text(path: Path, expected: str) -> str:
    """The user's UTF-8 text file, or a UserError in one line: missing, not UTF-8 (``expected`` says what to give,
    e.g. "one item a line"), unreadable."""
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.start}): give {expected}") from e
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or first_line(e)}") from e
