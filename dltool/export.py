"""``export_run(run)``: a run's best weights as a safetensors file (or a plain PyTorch state_dict) for use elsewhere.

The weights come from ``checkpoints/best.ckpt`` read with the same weights-only loader as ``dltool evaluate``; no data
is loaded. The file keeps the module's state-dict keys, normalization buffers (``mean``, ``std``) included, so that
``module.load_state_dict(safetensors.torch.load_file(path))`` works on a module rebuilt from the run's config.yaml.
Before anything is written the weights are loaded into the network rebuilt from the saved config (its input shape
is the shape of ``mean``): a checkpoint that does not fit its model is refused, and the parameter count is exact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dltool import __version__
from dltool.checkpoints import load as load_checkpoint
from dltool.errors import UserError, WriteError, choices, first_line
from dltool.runs import is_run, is_study, run_name, run_status, write_atomic

FORMATS = {"safetensors": "safetensors", "pt": "pt"}  # format -> file suffix
BUFFERS = ("mean", "std")  # a task's own state besides ``net.*``: the input normalization


def export_run(run_dir, fmt: str = "safetensors", output=None) -> dict:
    """Write the best weights of ``run_dir`` to ``output`` (default ``RUN/export/model.<fmt>``), atomically.

    ``fmt`` is ``safetensors`` (string metadata in the header: dltool version, run, task, model, the task's info (its
    classes, ...) as JSON, the
    config.yaml text, best epoch) or ``pt`` (``torch.save`` of the plain state_dict; loads with ``weights_only=True``).
    A folder as ``output`` (one that exists, or a path ending in ``/``) receives ``model.<fmt>``. Returns what was
    written: path, bytes, tensors, parameters.
    """
    import torch

    if fmt not in FORMATS:
        raise UserError(f"unknown --format '{fmt}'; choose from: {choices(FORMATS)}")
    run_dir = Path(run_dir)
    path = output_path(run_dir, output, fmt)
    best = run_dir / "checkpoints" / "best.ckpt"
    if not best.is_file():
        raise UserError(f"run {run_name(run_dir)} has no checkpoints/best.ckpt (status: {run_status(run_dir)})")
    checkpoint = load_checkpoint(best)
    state = checkpoint["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise UserError(f"cannot export {best}: its state_dict is not a mapping of names to tensors")
    # safetensors refuses tensors that share memory or are not contiguous: each one gets its own copy
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    config_text, saved = _config(run_dir, checkpoint, best)
    model, task, info = saved["model"], (saved.get("task") or {}).get("name", "classify"), checkpoint.get("info")
    task_args = {k: v for k, v in (saved.get("task") or {}).items() if k != "name"}  # task=verify's dim
    parameters = _check_fits(tensors, model, task, info, best, task_args)

    failures: tuple = (OSError,)
    if fmt == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import save_file

        metadata = {
            "format": "pt",  # the safetensors convention for tensors saved from PyTorch
            "dltool_version": __version__,
            "run": run_name(run_dir),
            "task": task,
            "model": str(model["name"]),
            "info": json.dumps(info, default=str),
            "config": config_text,
            "epoch": str(checkpoint.get("epoch", "")),
        }
        failures += (SafetensorError,)  # its wrapper around an OSError (a full disk)
        write = lambda tmp: save_file(tensors, str(tmp), metadata=metadata)  # noqa: E731
    else:
        write = lambda tmp: torch.save(tensors, tmp)  # noqa: E731
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write)  # a temporary file renamed into place: never half a file
    except failures as e:
        raise WriteError(f"cannot write {path}: {getattr(e, 'strerror', None) or first_line(e)}") from e
    return {"run": run_name(run_dir), "format": fmt, "path": str(path), "bytes": path.stat().st_size,
            "tensors": len(tensors), "parameters": parameters, "model": model["name"],
            "epoch": checkpoint.get("epoch")}


def output_path(run_dir: Path, output, fmt: str) -> Path:
    """Where the export goes: ``RUN/export/model.<fmt>`` by default; a folder receives ``model.<fmt>``.

    Refused, before anything is read: a path that exists but is not a regular file (a device such as /dev/full, a
    pipe, a link), and a path inside a run or study folder other than its ``export/`` folder, where it would replace
    the files that make the run (config.yaml, metrics.json, checkpoints) or the study (best.yaml, study.db).
    """
    name = f"model.{FORMATS[fmt]}"
    if output is None:
        return run_dir / "export" / name
    path = Path(output)
    if str(output).endswith(("/", os.sep)) or (path.is_dir() and not path.is_symlink()):
        path = path / name
    if path.is_symlink():
        raise UserError(f"--output {path} is a link: give the path of a regular file or a folder")
    if path.exists() and not path.is_file():
        raise UserError(f"--output {path} is not a regular file (a device, a pipe or a socket): give a file or folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot write {path}: {parent} is not a folder")
            break
    for folder in path.resolve().parents:
        if (folder / "export") in (path.resolve(), *path.resolve().parents):
            break  # a run's export folder is where exports belong
        if is_run(folder) or is_study(folder):
            kind = "run" if is_run(folder) else "study"
            raise UserError(f"--output {path} is inside the {kind} folder {folder}, where it could replace the "
                            f"{kind}'s own files: write it elsewhere, or under {folder / 'export'}")
    return path


def _config(run_dir: Path, checkpoint: dict, best: Path) -> tuple[str, dict]:
    """The run's config.yaml text and its config as a dict (the checkpoint's saved config when it has one)."""
    import yaml

    try:
        text = (run_dir / "config.yaml").read_text()
    except OSError:
        text = None
    saved = checkpoint.get("config")
    if not isinstance(saved, dict) and text is not None:
        try:
            saved = yaml.safe_load(text)
        except yaml.YAMLError:
            saved = None
    model = saved.get("model") if isinstance(saved, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise UserError(f"cannot export {best}: neither it nor {run_dir / 'config.yaml'} names the model")
    if text is None:
        text = yaml.safe_dump(saved, sort_keys=False)
    return text, saved


def _check_fits(tensors: dict, model: dict, task: str, info, best: Path, task_args: dict | None = None) -> int:
    """Load the weights into the network rebuilt from ``model`` (the checkpoint's config); return its parameter
    count. The input shape is the shape of the ``mean`` buffer; the outputs, what the task puts out for the saved
    ``info`` (for classification, one a class)."""
    import torch

    from dltool.models import count_parameters, create_model, net_arguments
    from dltool.tasks import task_class

    missing = [k for k in BUFFERS if k not in tensors]
    if missing or not isinstance(info, dict):
        what = f"buffer {', '.join(missing)}" if missing else "info (what the data was)"
        raise UserError(f"cannot export {best}: it has no {what} (not a dltool checkpoint)")
    try:
        outputs = task_class(task).outputs(info, **(task_args or {}))
    except (KeyError, TypeError) as e:
        raise UserError(f"cannot export {best}: its info does not describe {task} data ({first_line(e)})") from e
    net_state = {k[len("net."):]: v for k, v in tensors.items() if k.startswith("net.")}
    own = getattr(task_class(task), "own_buffers", ())  # task=verify's threshold
    extra = sorted(set(tensors) - set(BUFFERS) - set(own) - {f"net.{k}" for k in net_state})
    args = net_arguments(model)
    with torch.random.fork_rng(devices=[]):  # building the network draws initial weights: leave the caller's RNG alone
        net = create_model(model["name"], tuple(tensors["mean"].shape), outputs, **args)
    try:
        if extra:
            raise RuntimeError(f"unexpected key(s) {', '.join(extra)}")
        net.load_state_dict(net_state)
    except RuntimeError as e:
        raise UserError(f"checkpoint {best} does not fit its model {model['name']}: {first_line(e)}") from e
    return count_parameters(net)
