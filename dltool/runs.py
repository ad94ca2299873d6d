"""Run folders: safe names, and files written atomically so that a reader never sees half a file."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from dltool.errors import UserError, WriteError, first_line
from dltool.metrics import SPLITS

NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def check_name(name: str) -> str:
    """A run name is a plain folder name: letters, digits, '-', '_', '.'; not '.' or '..'; at most 128 characters."""
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(f"bad run name {name!r}: use 1-128 letters, digits, '-', '_' or '.' (a plain folder name)")
    return name


def check_runs_dir(runs_dir: str | Path) -> Path:
    """``runs_dir`` as a Path: a folder, or a path not there yet (the first run creates it); anything else is a
    UserError, not an empty listing or an OS error later."""
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UserError(f"runs folder {runs_dir} is a file, not a folder: give --runs-dir a folder")
    return runs_dir


def new_run_dir(runs_dir: str | Path, name: str | None, stem: str) -> Path:
    """Create ``runs_dir/name`` (refusing an existing name), or ``runs_dir/<stem>-<time>`` when no name is given."""
    runs_dir = check_runs_dir(runs_dir)
    if name is not None:
        check_name(name)  # before the runs folder appears: a bad name leaves nothing behind
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(f"cannot create runs folder {runs_dir}: {e.strerror}") from e
    if name is not None:
        path = runs_dir / name
        try:
            path.mkdir()
        except FileExistsError:
            raise UserError(f"run '{name}' already exists in {runs_dir}; choose another --name") from None
        except OSError as e:
            raise WriteError(f"cannot create run folder {path}: {e.strerror}") from e
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
            raise WriteError(f"cannot create run folder {path}: {e.strerror}") from e
    raise UserError(f"too many runs named {base}* in {runs_dir}")


def copy_run(run_dir: Path, runs_dir: str | Path, name: str) -> Path:
    """A copy of run ``run_dir`` as ``runs_dir/name`` (a new name): its config, history and checkpoints, the files a
    resumed run continues from; the results and reports stay behind (the copy makes its own)."""
    target = new_run_dir(runs_dir, name, "")
    try:
        for item in ("config.yaml", "history.csv", "checkpoints"):
            source = Path(run_dir) / item
            if source.is_dir():
                shutil.copytree(source, target / item)
            elif source.is_file():
                shutil.copy2(source, target / item)
    except OSError as e:
        shutil.rmtree(target, ignore_errors=True)
        raise WriteError(f"cannot copy run {Path(run_dir).name} to {target}: {e.strerror or first_line(e)}") from e
    return target


def write_atomic(path: Path, write: Callable[[Path], None], sync: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file in the same folder, fsync it, then rename it over ``path``.

    ``sync=False`` skips the fsync: still never half a file for a reader or after a killed process, but a power cut
    may lose the newest version; worth it for checkpoints rewritten every epoch, where the fsync cost 5 ms an epoch.
    A folder that cannot be written (permissions, a full disk) is a WriteError naming the file.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        if sync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a failed write as a RuntimeError
        raise WriteError(f"cannot write {path}: {_why(e, path)}") from e
    finally:
        tmp.unlink(missing_ok=True)


def _why(e: Exception, path: Path) -> str:
    if isinstance(e, OSError):
        return e.strerror or str(e)
    if shutil.disk_usage(path.parent).free < 1 << 20:
        return "No space left on device"
    return first_line(e)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(finite(obj), indent=2) + "\n")


def finite(obj):
    """JSON has no NaN or infinity: such floats (a diverged loss) become null; a NumPy or torch scalar becomes the
    Python number it holds (json cannot write a float32), and so null where it is not finite."""
    if getattr(obj, "ndim", None) == 0 and hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def find_run(run: str, runs_dir: str | Path = "runs") -> Path:
    """The folder of run ``run``: a run name inside ``runs_dir``, or a path to a run folder.

    A plain name is looked up in ``runs_dir`` first (that is where ``dltool train`` puts runs), then as a folder
    here; anything with a path separator is a path. A miss names the runs that do exist, so a typo is easy to fix.
    """
    runs_dir = Path(runs_dir)
    path = Path(run)
    if run and (len(path.parts) != 1 or run in (".", "..")):
        if is_run(path):
            return path
        raise UserError(f"no run folder at {run} (a run folder holds config.yaml and metrics.json)")
    candidate = runs_dir / check_name(run)
    if candidate.is_symlink() and not candidate.resolve().is_relative_to(runs_dir.resolve()):
        raise UserError(f"run '{run}' in {runs_dir} is a link to {candidate.resolve()}, outside the runs folder")
    for folder in (candidate, path):
        if is_run(folder):
            return folder
    if candidate.is_dir():
        raise UserError(f"{candidate} is not a run folder: it has no config.yaml or metrics.json")
    runs = _run_names(runs_dir)
    if not runs:
        raise UserError(f"run '{run}' not found in {runs_dir}; there are no runs there")
    more = f" ({len(runs) - 10} more)" if len(runs) > 10 else ""
    raise UserError(f"run '{run}' not found in {runs_dir}; runs: {', '.join(runs[:10])}{more}")


def _run_names(runs_dir: str | Path) -> list[str]:
    """Names of the run folders in ``runs_dir``, sorted; none when the folder does not exist."""
    runs_dir = check_runs_dir(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if is_run(p))


def is_run(path: Path) -> bool:
    """A run folder holds config.yaml (from the start) and metrics.json (at the end)."""
    return path.is_dir() and ((path / "metrics.json").is_file() or (path / "config.yaml").is_file())


def is_study(path: Path) -> bool:
    """A study folder holds its study.db (default storage), trials.csv and best.yaml."""
    return path.is_dir() and any((path / name).is_file() for name in ("study.db", "trials.csv", "best.yaml"))


def run_name(run_dir: Path) -> str:
    """The name of a run folder, also when it was given as '.' or a path ending in '..'."""
    return run_dir.name or run_dir.resolve().name


def split_errors(metrics: dict) -> dict[str, float | None]:
    """The error of each split in a metrics.json (None for a split that was not measured)."""
    splits = metrics.get("splits") or {}
    return {k: (splits.get(k) or {}).get("error") if isinstance(splits.get(k), dict) else None for k in SPLITS}


def baseline_errors(metrics: dict) -> dict[str, float | None] | None:
    """The error of each split of a metrics.json's logistic-regression baseline (dltool.baseline); None where the run
    has none (images, another task, ``trainer.baseline=false``, a run from before baselines)."""
    baseline = metrics.get("baseline")
    if not isinstance(baseline, dict):
        return None
    return split_errors(baseline)


def read_config(run_dir: str | Path) -> dict | None:
    """A run's config.yaml as a plain dict; None where it is missing or unreadable."""
    import yaml

    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def read_metrics(run_dir: str | Path) -> dict | None:
    """A run's metrics.json as a dict; None where it has none (still running, killed) or it cannot be read."""
    try:
        metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


def run_status(run_dir: str | Path) -> str:
    """What a run folder says of itself: the status in its metrics.json (completed, diverged, interrupted, failed),
    else, from process.json, ``running`` while its process lives, ``crashed`` when it is gone, ``running?`` for a
    process on another machine, ``incomplete`` with neither file."""
    metrics = read_metrics(run_dir)
    if metrics is not None and isinstance(metrics.get("status"), str):
        return metrics["status"]
    return _process_status(Path(run_dir))


def _process_status(folder: Path) -> str:
    """A run without metrics.json is ``running`` while its process lives (on this machine), else ``crashed``."""
    import socket

    try:
        process = json.loads((folder / "process.json").read_text())
    except (OSError, ValueError):
        return "incomplete"
    if not isinstance(process, dict):
        return "incomplete"
    if process.get("host") != socket.gethostname():
        return "running?"  # another machine's process: it cannot be checked from here
    return "running" if pid_alive(process.get("pid")) else "crashed"


def pid_alive(pid) -> bool:
    """Whether process ``pid`` runs on this machine (signal 0 only asks). A zombie, a killed process its parent has
    not reaped yet (a tuning worker while the parent waits on another), is not alive."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS): signal 0 has answered
        return True
    return state != "Z"
