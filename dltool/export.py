"""``export_run(run)``: a run's best weights as a safetensors file (or a plain PyTorch state_dict) for use elsewhere.

The weights come from ``checkpoints/best.ckpt`` read with the same weights-only loader as ``dltool evaluate``; no data
is loaded. The file keeps the module's state-dict keys, normalization buffers (``mean``, ``std``) included, so that
``module.load_state_dict(safetensors.torch.load_file(path))`` works on a module rebuilt from the run's config.yaml.
Before anything is written the weights are loaded into the network rebuilt from the saved config (its input shape
is the shape of ``mean``): a checkpoint that does not fit its model is refused, and the parameter count is exact.
``--format onnx`` (the optional extra dltool[onnx]) writes the net with its input normalization as one ONNX graph.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dltool import __version__
from dltool.checkpoints import load as load_checkpoint
from dltool.errors import UserError, WriteError, choices, first_line
from dltool.runs import is_run, is_study, run_name, run_status, write_atomic

FORMATS = {"safetensors": "safetensors", "pt": "pt", "onnx": "onnx"}  # format -> file suffix
ONNX_INSTALL = "pip install 'dltool[onnx]'"  # the optional extra --format onnx needs (onnx, onnxruntime)
NOT_ONNX: dict[str, str] = {}  # model -> why --format onnx refuses it (none today)
BUFFERS = ("mean", "std")  # a task's own state besides ``net.*``: the input normalization


def export_run(run_dir, fmt: str = "safetensors", output=None) -> dict:
    """Write the best weights of ``run_dir`` to ``output`` (default ``RUN/export/model.<fmt>``), atomically.

    ``fmt`` is ``safetensors`` (string metadata in the header: dltool version, run, task, model, the task's info (its
    classes, ...) as JSON, the
    config.yaml text, best epoch), ``pt`` (``torch.save`` of the plain state_dict; loads with ``weights_only=True``)
    or ``onnx`` (the task's forward as an ONNX graph with a dynamic batch, ``onnx_module``; the same metadata as its
    metadata_props, and the task's own buffers, task=verify's ``threshold``, as JSON).
    A folder as ``output`` (one that exists, or a path ending in ``/``) receives ``model.<fmt>``. Returns what was
    written: path, bytes, tensors, parameters.
    """
    import torch

    if fmt not in FORMATS:
        raise UserError(f"unknown --format '{fmt}'; choose from: {choices(FORMATS)}")
    if fmt == "onnx":
        require_onnx()
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
    if fmt == "onnx":
        if model["name"] in NOT_ONNX:
            raise UserError(f"model {model['name']} cannot be exported as onnx: {NOT_ONNX[model['name']]}; "
                            f"use --format safetensors")
        metadata = {"dltool_version": __version__, "run": run_name(run_dir), "task": task, "model": str(model["name"]),
                    "info": json.dumps(info, default=str), "config": config_text,
                    "epoch": str(checkpoint.get("epoch", ""))}
        from dltool.tasks import task_class

        for key in getattr(task_class(task), "own_buffers", ()):  # task=verify's threshold: not in the graph
            metadata[key] = json.dumps(tensors[key].tolist())
        graph = onnx_graph(tensors, model, task, info, task_args)
        write = lambda tmp: write_onnx(graph, tmp, metadata)  # noqa: E731
    elif fmt == "safetensors":
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


def require_onnx() -> None:
    """A UserError naming the pip command when the optional ``onnx`` extra (onnx, onnxruntime) is not installed."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"--format onnx needs {' and '.join(missing)}: {ONNX_INSTALL}")


def onnx_graph(tensors: dict, model: dict, task: str, info: dict, task_args: dict | None = None):
    """The module to export as ONNX: the task rebuilt around its net with the checkpoint's state (normalization
    included), in eval mode, computing what the task's forward does (see ``onnx_module``)."""
    import torch

    from dltool.models import create_model, net_arguments
    from dltool.tasks import task_class

    cls = task_class(task)
    with torch.random.fork_rng(devices=[]):
        net = create_model(model["name"], tuple(tensors["mean"].shape), cls.outputs(info, **(task_args or {})),
                           **net_arguments(model))
    module = cls(net, info, tensors["mean"], tensors["std"], {}, {}, 1, **(task_args or {}))
    module.load_state_dict(tensors)  # strict: every key fits (checked before, by _check_fits)
    return onnx_module(module).eval()


def onnx_module(module):
    """``module`` (a task) wrapped as the graph to export: input ``x`` (B, *input_shape), float for the tasks that
    normalize, token ids (int64) for lm and seq2seq. classify, multilabel, segment, detect: the net's raw outputs on
    (x - mean) / std (logits; detect: the grid before decoding); verify: the L2-normalized embedding; lm: the logits
    (B, T, V) of each next token; seq2seq: teacher forcing, inputs ``x`` (B, Tx) and ``y_in`` (B, Ty) (``<s>`` then
    the target but its last token), output the log-probabilities (B, Ty, V) of each next token, -inf outside the
    target vocabulary (the beam search of dltool translate is not in the graph); tag: input (B, T, 2) word and shape
    ids, output the scores (B, T, K) of each word's tags; classify of sentences (word_average, word_lstm): input
    (B, T) word ids, ``<pad>`` = 0 after each sentence."""
    import copy

    import torch

    cells = [name for name, m in module.named_modules() if isinstance(m, (torch.nn.LSTMCell, torch.nn.GRUCell))]
    if cells:  # on a copy: the caller's module stays as it is
        module = copy.deepcopy(module)
        for name in cells:
            owner, _, key = name.rpartition(".")
            parent = module.get_submodule(owner)
            setattr(parent, key, explicit_cell(getattr(parent, key)))

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module

        def forward(self, x, y_in=None):
            return self.module.scores(x, y_in) if self.module.name == "seq2seq" else self.module(x)

    return Graph()


def explicit_cell(cell):
    """An LSTMCell or GRUCell (its parameters, shared) as the equations it computes, gates sliced by their known
    size: torch.onnx cannot split the fused cell's gates after a packed sequence, whose shapes it does not infer
    (model attention_rnn). The same numbers up to float rounding (a test compares them)."""
    import torch
    import torch.nn.functional as F

    lstm = isinstance(cell, torch.nn.LSTMCell)

    class Cell(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = cell
            self.n = cell.hidden_size

        def forward(self, x, state):
            c, n = self.cell, self.n
            h = state[0] if lstm else state
            gi, gh = F.linear(x, c.weight_ih, c.bias_ih), F.linear(h, c.weight_hh, c.bias_hh)
            if lstm:  # PyTorch's gate order: input, forget, cell, output
                g = gi + gh
                i, f, o = (torch.sigmoid(g[:, k * n:(k + 1) * n]) for k in (0, 1, 3))
                c_new = f * state[1] + i * torch.tanh(g[:, 2 * n:3 * n])
                return o * torch.tanh(c_new), c_new
            r = torch.sigmoid(gi[:, :n] + gh[:, :n])  # reset, update, new
            z = torch.sigmoid(gi[:, n:2 * n] + gh[:, n:2 * n])
            new = torch.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
            return (1 - z) * new + z * h

    return Cell()


def onnx_inputs(graph) -> dict:
    """Example inputs of the graph (a batch of 2) by name, for tracing; their first dimension stays dynamic."""
    import torch

    module = graph.module
    shape = tuple(module.mean.shape)
    if module.name == "classify" and "vocabulary" in module.info:  # sentences of word ids (data=polarity)
        return {"x": _ids((2, *shape), len(module.info["vocabulary"]))}
    if module.name in ("lm", "seq2seq", "embed"):  # embed: word ids -> their vectors
        vocabulary = len(module.info["classes"])
        x = {"x": _ids((2, *shape), vocabulary)}
        if module.name == "seq2seq":
            x["y_in"] = _ids((2, int(module.info["target_length"])), vocabulary)
        return x
    if module.name == "tag":  # word ids (within the data's words) beside shape ids (within the shapes)
        return {"x": torch.stack([_ids((2, shape[0]), len(module.info["words"])),
                                  _ids((2, shape[0]), len(module.info["shapes"]))], dim=-1)}
    return {"x": torch.zeros(2, *shape, dtype=module.mean.dtype)}


def _ids(shape: tuple, vocabulary: int):
    """Token ids 1, 2, ... (no padding) of ``shape``, within the vocabulary."""
    import math

    import torch

    return (torch.arange(math.prod(shape)) % max(vocabulary - 1, 1) + 1).reshape(shape)


def write_onnx(graph, path, metadata: dict | None = None) -> None:
    """Export ``graph`` (``onnx_graph``) to ``path`` as one ONNX file (weights inside) with a dynamic batch
    dimension (``batch``) on every input and the output, and ``metadata`` as its metadata_props.

    torch's TorchScript-based exporter (``dynamo=False``): the torch.export one (torch's default since 2.9) fixed the
    batch of the transformer_seq2seq graph and took 2 s a net where this one takes a tenth of that."""
    import warnings

    import onnx
    import torch

    inputs = onnx_inputs(graph)
    names = list(inputs)
    with warnings.catch_warnings():  # not under no_grad: there nn.TransformerEncoderLayer takes its fused fast path,
        warnings.simplefilter("ignore")  # an op ONNX lacks; ignored: the exporter's notes on the legacy path
        try:
            torch.onnx.export(graph, tuple(inputs.values()), str(path), input_names=names, output_names=["output"],
                              dynamic_axes={name: {0: "batch"} for name in [*names, "output"]}, dynamo=False,
                              opset_version=17)
        except OSError:
            raise
        except Exception as e:  # an op torch.onnx has no ONNX form for: not a failed write
            raise UserError(f"torch.onnx cannot export this {graph.module.name} model: {first_line(e)}") from e
    proto = onnx.load(str(path))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
