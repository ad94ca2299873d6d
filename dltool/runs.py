"""Run folders: safe names, and files written atomically so that a reader never sees half a file."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

from dltool.errors import UserError

NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def check_name(name: str) -> str:
    """A run name is a plain folder name: letters, digits, '-', '_', '.'; not '.' or '..'; at most 128 characters."""
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(f"bad run name {name!r}: use 1-128 letters, digits, '-', '_' or '.' (a plain folder name)")
    return name


def new_run_dir(runs_dir: str | Path, name: str | None, stem: str) -> Path:
    """Create ``runs_dir/name`` (refusing an existing name), or ``runs_dir/<stem>-<time>`` when no name is given."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create runs folder {runs_dir}: {e.strerror}") from e
    if name is not None:
        path = runs_dir / check_name(name)
        try:
            path.mkdir()
        except FileExistsError:
            raise UserError(f"run '{name}' already exists in {runs_dir}; choose another --name") from None
        except OSError as e:
            raise UserError(f"cannot create run folder {path}: {e.strerror}") from e
        return path
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1, 1000):
        path = runs_dir / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise UserError(f"cannot create run folder {path}: {e.strerror}") from e
    raise UserError(f"too many runs named {base}* in {runs_dir}")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file in the same folder, fsync it, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(finite(obj), indent=2) + "\n")


def finite(obj):
    """JSON has no NaN or infinity: such floats (a diverged loss) become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj
