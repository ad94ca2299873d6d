"""``dltool visualize RUN``: what the units of a trained conv net's layers respond to (course 4, "What are deep
ConvNets learning?").

The method is Zeiler & Fergus's (2013, arXiv 1311.2901, "Visualizing and Understanding Convolutional Networks",
section 4 and its figure 2 as the course shows it): for a unit (one channel of a conv layer's output map), pass every
example of a split through the net, take each example's largest activation of that channel over the map's positions,
keep the k examples whose largest activation is largest (distinct examples, by construction), and show, for each, the
patch of the input that the unit sees at the position of that maximum: its receptive field. Zeiler & Fergus also
project the activation back to pixels with a deconvnet; the course's pictures, and this command, show the input
patches themselves. Shallow layers see small windows and respond to simple patterns (an edge, a bump); deeper layers
see larger windows and more complex ones.

The layers are the blocks of ``net.features`` that hold weights (a conv net's conv blocks, a ResNet's residual
blocks, a MobileNet's inverted residuals, an Inception block: the blocks dltool.transfer counts for
``model.freeze=N``), numbered from 1 and hooked with forward hooks. The units are, by default, the ``units`` channels
of each layer with the largest mean activation over the split (over examples and positions), or a seeded random
choice (``pick="random"``).

Receptive field, analytically, per spatial axis (Araujo, Norris & Sim 2019, "Computing Receptive Fields of
Convolutional Neural Networks", Distill; Dumoulin & Visin 2016, arXiv 1603.07285): start at the input with size r = 1,
jump j = 1 and start u = 0; a conv or pooling layer with kernel k, stride s, padding p and dilation d gives

    r_out = r_in + (k - 1) d j_in,    j_out = j_in s,    u_out = u_in - p j_in

and output position i of the layer then sees the input positions u + i j ... u + i j + r - 1. Layers that act on one
position at a time (batch norm, activations, identities, dropout) leave the field alone; parallel branches (a
residual block's shortcut, an Inception block's branches) see the union of their windows. The patch is that window,
clipped at the input's borders and padded with NaN outside it (drawn as background), so that every patch of a layer
has the same size. Inputs are shown as the data holds them (before the run's normalization).
"""

from __future__ import annotations

from dltool.errors import UserError, check_number, choices

PICKS = ("mean", "random")
CONV_MODELS = ("alexnet", "cnn", "cnn_paper", "lenet", "vgg", "resnet", "mobilenet", "mobilenet_v1", "inception", "yolo")
MAX_UNITS = 64  # a picture's rows a layer at most
MAX_TOP = 50  # its columns
BATCH = 1024  # examples a forward pass


# ---------------------------------------------------------------------------------------------------------------------
# Receptive fields: pure arithmetic on the layers' kernel, stride, padding and dilation


def _per_axis(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def compose(field: tuple, kernel, stride, padding, dilation=1) -> tuple:
    """The field ``((r, j, u), ...)`` (one triple an axis) after a conv or pooling window: the recurrence above.

    >>> compose(compose(((1, 1, 0),), 3, 1, 1), 3, 1, 1)  # two 3x3 convs, stride 1: a 5-wide field
    ((5, 1, -2),)
    >>> compose(compose(((1, 1, 0),), 3, 2, 0), 3, 1, 0)  # conv3 stride 2 then conv3: 7
    ((7, 2, 0),)
    """
    dims = len(field)
    ks, ss, ps, ds = (_per_axis(v, dims) for v in (kernel, stride, padding, dilation))
    return tuple((r + (k - 1) * d * j, j * s, u - p * j) for (r, j, u), k, s, p, d in zip(field, ks, ss, ps, ds))


def union(fields: list[tuple]) -> tuple:
    """The field of parallel branches on one input: the smallest window that holds every branch's (same jump)."""
    out = []
    for axis in zip(*fields):
        jumps = {j for _, j, _ in axis}
        if len(jumps) != 1:
            raise ValueError(f"parallel branches with different strides {sorted(jumps)}")
        lo = min(u for _, _, u in axis)
        hi = max(u + r for r, _, u in axis)
        out.append((hi - lo, jumps.pop(), lo))
    return tuple(out)


def field_after(module, field: tuple) -> tuple:
    """The receptive field after ``module`` of a net's features, from the field of its input; a ValueError for a
    layer this has no rule for (an adaptive pool, a layer of a new family)."""
    from torch import nn

    from dltool.models.inception import Inception
    from dltool.models.mobilenet import InvertedResidual
    from dltool.models.resnet import ResidualBlock

    if isinstance(module, nn.modules.conv._ConvNd):
        padding = module.padding
        if isinstance(padding, str):  # torch's padding="same" / "valid"
            padding = tuple((d * (k - 1)) // 2 for k, d in zip(module.kernel_size, module.dilation)) \
                if padding == "same" else 0
        return compose(field, module.kernel_size, module.stride, padding, module.dilation)
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        if getattr(module, "ceil_mode", False):
            raise ValueError(f"{type(module).__name__} with ceil_mode")
        return compose(field, module.kernel_size, module.stride or module.kernel_size, module.padding,
                       getattr(module, "dilation", 1))
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.Identity, nn.Dropout, nn.LocalResponseNorm)) or \
            type(module).__module__ == "torch.nn.modules.activation":
        return field  # one position at a time
    if isinstance(module, ResidualBlock):
        return union([field_after(module.conv2, field_after(module.conv1, field)),
                      field_after(module.shortcut, field)])
    if isinstance(module, InvertedResidual):
        return union([field_after(module.block, field), field]) if module.residual else field_after(module.block, field)
    if isinstance(module, Inception):
        return union([field_after(b, field) for b in (module.branch1, module.branch3, module.branch5,
                                                       module.branch_pool)])
    children = list(module.children())
    if isinstance(module, nn.Sequential) or (children and _is_chain(module)):
        for child in children:
            field = field_after(child, field)
        return field
    raise ValueError(f"no receptive-field rule for {type(module).__name__}")


def _is_chain(module) -> bool:
    """dltool's own blocks whose children run one after another: conv -> BN -> activation, a pool, depthwise ->
    pointwise."""
    from dltool.models.layers import ConvBN, Pool
    from dltool.models.mobilenet import DepthwiseSeparable

    return isinstance(module, (ConvBN, Pool, DepthwiseSeparable))


def conv_layers(net) -> list[dict]:
    """The net's layers to visualize: each block of ``net.features`` that holds weights, numbered from 1, with its
    receptive field (size, jump and start per axis) computed through every block before it (pools included)."""
    features, shape = getattr(net, "features", None), getattr(net, "conv_shape", None)
    if not hasattr(features, "__len__") or shape is None or len(shape) < 2:
        raise UserError("the net has no conv layers to visualize (no net.features of conv blocks)")
    from torch import nn

    if not isinstance(getattr(net, "resize", nn.Identity()), nn.Identity):
        raise UserError("the net resamples its input first (model.resolution or model.compound): its receptive fields "
                        "are not in the input's coordinates; visualize a run at resolution 1")
    field = tuple((1, 1, 0) for _ in shape[1:])
    layers = []
    for i, block in enumerate(features):
        try:
            field = field_after(block, field)
        except ValueError as e:
            raise UserError(f"block features.{i} ({type(block).__name__}) of the net: {e}") from None
        if any(True for _ in block.parameters()):  # pools and activations are not layers of their own
            layers.append({"layer": len(layers) + 1, "index": i, "name": f"features.{i}",
                           "block": type(block).__name__, "field": field})
    if not layers:
        raise UserError("the net's features hold no weights: no conv layers to visualize")
    return layers


def window(field: tuple, position) -> list[list[int]]:
    """``[[lo, hi), ...]`` per axis: the input positions that output ``position`` of a layer with ``field`` sees."""
    return [[u + i * j, u + i * j + r] for (r, j, u), i in zip(field, position)]


def crop(example, bounds: list[list[int]]):
    """The window ``bounds`` of ``example`` (C, *S) as a (C, *sizes) float array, NaN outside the input."""
    import numpy as np

    sizes = [hi - lo for lo, hi in bounds]
    patch = np.full((example.shape[0], *sizes), np.nan, dtype=np.float32)
    source, target = [slice(None)], [slice(None)]
    for (lo, hi), n in zip(bounds, example.shape[1:]):
        a, b = max(lo, 0), min(hi, n)
        if a >= b:  # the window lies wholly outside the input: all NaN
            return patch
        source.append(slice(a, b))
        target.append(slice(a - lo, b - lo))
    patch[tuple(target)] = example[tuple(source)]
    return patch


# ---------------------------------------------------------------------------------------------------------------------
# Options, checked before a run is loaded


def check_options(split: str, units: int, top: int, pick: str, seed: int) -> None:
    from dltool.metrics import SPLITS

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose from: {choices(SPLITS)}")
    check_number(units, "--units", low=1, high=MAX_UNITS, integer=True)
    check_number(top, "--top", low=1, high=MAX_TOP, integer=True)
    if pick not in PICKS:
        raise UserError(f"unknown --pick {pick!r}; choose from: {choices(PICKS)}")
    check_number(seed, "--seed", low=0, integer=True)


def parse_layers(text: str | None, count: int) -> list[int]:
    """``--layers``: ``all`` (or None) or layer numbers from 1, e.g. ``1,3``; sorted, each once."""
    valid = f"choose from 1 to {count} (or all)"
    if text is None or text.strip() == "all":
        return list(range(1, count + 1))
    try:
        numbers = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise UserError(f"bad --layers {text!r}: expected all or layer numbers such as 1,2,3; {valid}") from None
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad:
        raise UserError(f"--layers {text}: the net has {count} conv layers (blocks of features with weights); {valid}")
    return numbers


# ---------------------------------------------------------------------------------------------------------------------
# The computation


class _Done(Exception):
    """Raised by the last hook: the blocks after it and the head need not run."""


def top_activations(net, x, mean=None, std=None, layers: list[int] | None = None, units: int = 8, top: int = 9,
                    pick: str = "mean", seed: int = 0) -> tuple[list[dict], list]:
    """For the chosen ``layers`` (numbers from 1; None: all) of ``net``: their fields, chosen units and each unit's
    ``top`` examples of ``x`` (N, *input_shape), raw; the net reads ``(x - mean) / std``.

    Returns ``(result, patches)``: per layer a dict (layer, name, block, channels, map (the output map's sizes),
    receptive_field, stride, start (per axis), units: [{unit, mean_activation, top: [{index, activation, position,
    window}]}]) and per layer an array (units, top, C, *receptive field) of the input patches (NaN outside the
    input). A ReLU unit that never fires has activation 0 everywhere: its top examples are the first ones.
    """
    import numpy as np
    import torch

    all_layers = conv_layers(net)
    chosen = [all_layers[n - 1] for n in (layers or range(1, len(all_layers) + 1))]
    shape = tuple(net.conv_shape)
    seen: dict[int, dict] = {}

    def hook(number: int, last: bool):
        def record(module, inputs, output):
            flat = output.detach().float().flatten(2)  # (B, C, positions)
            s = seen.setdefault(number, {"max": [], "arg": [], "sum": 0.0, "map": tuple(output.shape[2:])})
            s["max"].append(flat.amax(dim=2).cpu())
            s["arg"].append(flat.argmax(dim=2).cpu())  # the first position of the maximum
            s["sum"] = s["sum"] + flat.mean(dim=2).sum(dim=0).cpu().double()
            if last:
                raise _Done

        return record

    handles = [net.features[layer["index"]].register_forward_hook(hook(layer["layer"], layer is chosen[-1]))
               for layer in chosen]
    training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for lo in range(0, len(x), BATCH):
                z = x[lo:lo + BATCH].float()
                if mean is not None:
                    z = (z - mean) / std
                try:
                    net.forward_features(z)
                except _Done:
                    pass
    finally:
        for handle in handles:
            handle.remove()
        net.train(training)
    rng = np.random.default_rng(seed)
    examples = x.detach().reshape(len(x), *shape)  # on its device: only the top examples come to the CPU
    result, patches = [], []
    for layer in chosen:
        s = seen[layer["layer"]]
        maxima, where = torch.cat(s["max"]).numpy(), torch.cat(s["arg"]).numpy()  # (N, C)
        means = (s["sum"] / len(x)).numpy()
        channels = maxima.shape[1]
        n_units = min(units, channels)
        if pick == "mean":
            unit_ids = np.argsort(-means, kind="stable")[:n_units]
        else:
            unit_ids = np.sort(rng.choice(channels, size=n_units, replace=False))
        field = layer["field"]
        rows, layer_patches = [], []
        for u in unit_ids:
            order = np.argsort(-maxima[:, u], kind="stable")[:top]  # distinct examples; ties: the lower index
            ranked, row = [], []
            for index in order:
                position = [int(p) for p in np.unravel_index(int(where[index, u]), s["map"])]
                bounds = window(field, position)
                ranked.append({"index": int(index), "activation": float(maxima[index, u]), "position": position,
                               "window": bounds})
                row.append(crop(examples[int(index)].float().cpu().numpy(), bounds))
            rows.append({"unit": int(u), "mean_activation": float(means[u]), "top": ranked})
            layer_patches.append(np.stack(row))
        result.append({"layer": layer["layer"], "name": layer["name"], "block": layer["block"], "channels": channels,
                       "map": list(s["map"]), "receptive_field": [r for r, _, _ in field],
                       "stride": [j for _, j, _ in field], "start": [u for _, _, u in field], "units": rows})
        patches.append(np.stack(layer_patches))
    return result, patches


def visualize_run(run_dir, split: str = "train", layers: str | None = None, units: int = 8, top: int = 9,
                  pick: str = "mean", seed: int = 0, output=None) -> dict:
    """Restore a run's best checkpoint, find its units' top patches on ``split`` and write the picture (default
    RUN/visualize-<split>.png). Everything is checked and computed before the PNG is written."""
    from pathlib import Path

    from dltool.restore import restore
    from dltool.runs import run_name

    check_options(split, units, top, pick, seed)
    output = Path(output) if output is not None else None
    if output is not None and output.suffix.lower() != ".png":
        raise UserError(f"-o {output}: the picture is a PNG; give a file name ending in .png")
    if output is not None and not output.parent.is_dir():
        raise UserError(f"-o {output}: no folder {output.parent} to write it in")
    run_dir = Path(run_dir)
    setup, module = restore(run_dir)
    net = module.net
    model = setup.cfg.model.name
    try:
        count = len(conv_layers(net))
    except UserError as e:
        raise UserError(f"run {run_name(run_dir)} trained model {model}: {e}; models that have them: "
                        f"{choices(CONV_MODELS)}") from None
    numbers = parse_layers(layers, count)
    x = setup.splits[split]["x"]
    if len(x) == 0:
        raise UserError(f"the {split} split of run {run_name(run_dir)} has no examples (data.split.{split} is 0)")
    if not x.is_floating_point():
        raise UserError(f"run {run_name(run_dir)} reads token ids, not signals or images: nothing to show as patches")
    found, patches = top_activations(net, x, module.mean, module.std, numbers, units, top, pick, seed)
    path = output or run_dir / f"visualize-{split}.png"
    how = ("the units with the largest mean activation over the split" if pick == "mean"
           else f"units chosen at random (seed {seed})")
    result = {"run": run_name(run_dir), "model": model, "split": split, "n": len(x), "input_shape":
              list(net.conv_shape), "pick": pick, "seed": seed, "units_chosen": how, "top": top,
              "layers": found, "picture": str(path)}
    from dltool.visualize_report import draw

    draw(path, result, patches)
    return result
