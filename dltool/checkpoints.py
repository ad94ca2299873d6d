"""Checkpoint files: written atomically, read back as weights only.

A checkpoint is a dict of tensors and plain values (config, classes, progress counters, RNG states) saved with
``torch.save``. It is read with ``weights_only=True`` and nothing else: a file that this loader refuses (a crafted
pickle, a damaged zip) is never retried as a full pickle, because unpickling runs arbitrary code.
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError
from dltool.runs import write_atomic


def save(path: Path, checkpoint: dict) -> None:
    """Checkpoints are rewritten every epoch: atomic, but not fsynced (see dltool.runs.write_atomic)."""
    import torch

    write_atomic(path, lambda tmp: torch.save(checkpoint, tmp), sync=False)


def load(path: Path, need: str = "state_dict") -> dict:
    """The checkpoint at ``path`` as a dict holding the key ``need``; every failure is one UserError line.

    torch warns (a UserWarning with its source line) before it refuses some files, e.g. a legacy-format pickle: those
    warnings are silenced, since the refusal says all the user needs to know.
    """
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as e:  # a good file this user may not read: not "damaged" (a truncated zip is OSError too)
        raise UserError(f"cannot read checkpoint {path}: {e.strerror}") from e
    except Exception as e:  # truncated zip, refused pickle global, empty file: all mean the same to the user
        raise UserError(f"cannot load checkpoint {path}: it is not a safe weights-only checkpoint or is damaged") from e
    if not isinstance(checkpoint, dict) or need not in checkpoint:
        raise UserError(f"cannot load checkpoint {path}: it has no {need} (not a dltool checkpoint)")
    return checkpoint
