"""The feature nets of ``dltool style``: where the activations that the content and style costs compare come from.

Gatys et al. (2015) and the course take them from VGG-19 trained on ImageNet. dltool downloads nothing, so it offers:

- by default a fixed random conv net, seeded: 5 blocks of [2x2 average pooling (from the second) -> 3x3 conv
  (reflection padding) -> ReLU], widths 32, 64, 128, 128, 128, He-initialized. Random filters are a bank of edge and
  colour detectors at five scales; the Gram matrices of their responses still describe a texture (Ulyanov et al. 2016,
  "Texture Networks"; He, Wang & Hopcroft 2016, "A Powerful Generative Model Using Random Weights for the Deep Image
  Representation"), but no filter stands for an object part, so the style carries texture and colour, not semantics.
- ``--features RUN``: the conv blocks of a net trained by dltool (its best checkpoint, read weights-only through
  dltool.restore.restore), e.g. ``dltool train data=digits model=cnn``. The blocks of ``net.features`` (the cnn,
  resnet, mobilenet and inception families) are the layers ``features.0``, ``features.1``, ...; the U-Net's encoder
  levels are ``down.0``, ``down.1``, ... A net trained on gray images (data=digits, data=canvas) sees the image as
  gray, scaled to its training data's range and normalized as its inputs were (per channel: a photograph is not the
  size of the training images, so the per-pixel statistics become the channel's).

Every net here is frozen (eval mode: batch norm uses its running statistics) and only the image is optimized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dltool.errors import UserError, choices

RANDOM_WIDTHS = (32, 64, 128, 128, 128)
# The random net's input, (x - 0.5) / 0.125. Without biases, a net of convolutions, ReLUs and average pooling is
# positively homogeneous: scaling its input by k scales J_content by k^2 and J_style by k^4, so this scale sets the
# balance of the two at the course's alpha = 10, beta = 40 (0.25 leaves little style, 0.0625 little content).
PIXEL_MEAN, PIXEL_STD = 0.5, 0.125
GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma: RGB -> gray for a net trained on 1-channel images
RANDOM_WHY = "no --features run given: a random conv net, seeded; random features carry texture but not semantics"


@dataclass
class FeatureNet:
    """Named stages run in order; ``prepare`` maps pixels (1, 3, H, W) in [0, 1] to the net's input."""

    stages: list  # [(name, nn.Module)]
    prepare: Callable
    conv: list  # names of the stages that hold a 2-D convolution: the default style layers
    info: dict  # what the output says about the net: kind, description, why

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.stages]

    def __call__(self, x, names) -> dict:
        """The activations (1, n_C, n_H, n_W) of the stages in ``names`` for the image ``x``."""
        wanted = set(names)
        last = max(i for i, name in enumerate(self.names) if name in wanted)
        h, out = self.prepare(x), {}
        for name, stage in self.stages[:last + 1]:
            h = stage(h)
            if name in wanted:
                out[name] = h
        return out

    def default_content(self) -> str:
        """The middle conv stage (features.2 of the random net's 5): the course's conv4_2 of VGG-19 is a layer in the
        middle of the net, past the edges, short of the most abstract; the random net's deeper stages see the image
        at 16 x 16 or less at --size 128, too coarse to keep the content's outlines."""
        return self.conv[len(self.conv) // 2]


def _frozen(stages, prepare, info) -> FeatureNet:
    import torch

    for _, stage in stages:
        stage.eval()
        for p in stage.parameters():
            p.requires_grad_(False)
    conv = [name for name, stage in stages if any(isinstance(m, torch.nn.Conv2d) for m in stage.modules())]
    return FeatureNet(stages, prepare, conv, info)


def random_net(seed: int) -> FeatureNet:
    """The fixed random conv net seeded by ``seed`` (see the module's docstring); the caller's RNG is left alone."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    stages, c_in = [], 3
    with torch.random.fork_rng(devices=[]):  # nn.Conv2d draws its default weights from the global RNG
        for i, width in enumerate(RANDOM_WIDTHS):
            conv = nn.Conv2d(c_in, width, 3, padding=1, padding_mode="reflect")
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=g)  # He init: keeps the scale
            nn.init.zeros_(conv.bias)  # no biases: the net is homogeneous (see PIXEL_STD)
            layers = [nn.AvgPool2d(2)] if i else []
            stages.append((f"features.{i}", nn.Sequential(*layers, conv, nn.ReLU())))
            c_in = width
    widths = ", ".join(map(str, RANDOM_WIDTHS))
    info = {"kind": "random", "description": f"random conv net (seed {seed}; widths {widths}, 3x3 conv + ReLU, 2x2 "
            "average pooling, He init)", "why": RANDOM_WHY, "seed": seed}
    return _frozen(stages, lambda x: (x - PIXEL_MEAN) / PIXEL_STD, info)


def _stages(net) -> list | None:
    """(name, module) of the net's feature blocks in order: ``features.i``, or the U-Net encoder's ``down.i``."""
    from torch import nn

    features = getattr(net, "features", None)
    if isinstance(features, nn.Sequential):
        return [(f"features.{i}", block) for i, block in enumerate(features)]
    down, pool = getattr(net, "down", None), getattr(net, "pool", None)
    if isinstance(down, nn.ModuleList) and isinstance(pool, nn.Module):  # the U-Net: pool between encoder levels
        return [(f"down.{i}", block if i == 0 else nn.Sequential(pool, block)) for i, block in enumerate(down)]
    return None


def check_net(net, what: str, shape: tuple) -> list:
    """The feature stages of ``net`` (``what``: how to name it; ``shape``: its input shape), or a UserError saying
    why they cannot read an image: no 2-D convolutions in them (an MLP, a 1-D conv net on signals, a recurrent net),
    or inputs that are not RGB or gray images."""
    import torch

    stages = _stages(net)
    if not stages or not any(isinstance(m, torch.nn.Conv2d) for _, s in stages for m in s.modules()):
        raise UserError(f"{what} (inputs of shape {shape}) has no 2-D convolutional layers to take features from: "
                        "style transfer needs a conv net trained on images, e.g. dltool train data=digits model=cnn")
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise UserError(f"{what} takes inputs of shape {shape}: style transfer feeds it an RGB (3, H, W) or gray "
                        "(1, H, W) image, and it takes neither")
    return stages


def run_net(run: str, runs_dir) -> FeatureNet:
    """The conv blocks of run ``run``'s best checkpoint as a feature net; a UserError when they cannot read an image."""
    import torch

    from dltool.restore import restore
    from dltool.runs import find_run, run_name
    from dltool.train import keep_threads

    run_dir = find_run(run, runs_dir)
    with torch.random.fork_rng(devices=[]), keep_threads():  # rebuilding a run seeds torch and may set threads
        setup, module = restore(run_dir, ("trainer.accelerator=cpu",))
    name, model, shape = run_name(run_dir), setup.cfg.model.name, tuple(setup.data.input_shape)
    stages = check_net(module.net, f"run {name}'s model {model}", shape)
    x = setup.splits["train"]["x"].float().cpu()
    low, high = x.amin(dim=(0, 2, 3)).view(1, -1, 1, 1), x.amax(dim=(0, 2, 3)).view(1, -1, 1, 1)
    normalized = bool((module.mean != 0).any() or (module.std != 1).any())
    mean = x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1) if normalized else torch.zeros_like(low)
    std = x.std(dim=(0, 2, 3)).view(1, -1, 1, 1) if normalized else torch.ones_like(low)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    gray = shape[0] == 1
    luma = torch.tensor(GRAY).view(1, 3, 1, 1)

    def prepare(pixels):  # (1, 3, H, W) in [0, 1] -> the run's input: gray if it was, its range, its normalization
        if gray:
            pixels = (pixels * luma).sum(dim=1, keepdim=True)
        return (low + pixels * (high - low) - mean) / std

    stages = [(n, s.cpu().float()) for n, s in stages]
    info = {"kind": "run", "run": name, "path": str(run_dir), "model": model, "input_shape": list(shape),
            "description": f"run {name}: model {model} trained on data={setup.cfg.data.name} "
                           f"({'gray' if gray else 'RGB'} inputs {shape})",
            "why": f"--features {run}: the conv blocks of its best checkpoint"}
    return _frozen(stages, prepare, info)


def parse_layers(text: str | None, net: FeatureNet) -> dict[str, float]:
    """``--layers``: ``"features.0,features.2"`` (equal weights, as the course's STYLE_LAYERS 0.2 each) or
    ``"features.0=0.5,features.2=0.5"``; None: every conv stage, equal weights summing to 1."""
    if text is None:
        return {name: 1 / len(net.conv) for name in net.conv}
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, number = (s.strip() for s in part.partition("="))
        check_layer(name, net, "--layers")
        try:
            weight = float(number) if sep else None
        except ValueError:
            weight = -1.0
        if (weight is not None and not 0 <= weight < float("inf")) or name in weights:
            raise UserError(f"bad --layers {text!r}: expected LAYER or LAYER=WEIGHT (weight >= 0) separated by commas, "
                            f"each layer once, e.g. {net.conv[0]},{net.conv[-1]}")
        weights[name] = weight
    given = [w for w in weights.values() if w is not None]
    if given and len(given) != len(weights):
        raise UserError(f"bad --layers {text!r}: give a weight to every layer or to none")
    if given and sum(given) == 0:
        raise UserError(f"bad --layers {text!r}: the weights are all 0")
    return {name: (1 / len(weights) if w is None else w) for name, w in weights.items()}


def check_layer(name: str, net: FeatureNet, option: str) -> str:
    if name not in net.names:
        raise UserError(f"unknown layer {name!r} in {option}; layers of the {net.info['kind']} feature net: "
                        f"{choices(net.names)}")
    return name


def check_size(net: FeatureNet, size: int, names) -> None:
    """A UserError when an image ``size`` x ``size`` shrinks to nothing before the deepest layer in ``names``;
    it names the smallest size that fits."""
    import torch

    def fits(n: int) -> bool:
        try:
            with torch.no_grad():
                return all(min(a.shape[-2:]) >= 1 for a in net(torch.zeros(1, 3, n, n), names).values())
        except RuntimeError:  # a pooling or convolution larger than its input
            return False

    if not fits(size):
        smallest = next((n for n in range(size + 1, 2049) if fits(n)), None)
        need = f"--size {smallest} or more" if smallest else "a larger --size"
        raise UserError(f"--size {size} is too small for the feature net's layers {choices(names)}: the image shrinks "
                        f"to nothing on the way; give {need}, or shallower --layers")


def feature_net(features: str | None, runs_dir: Path, seed: int) -> FeatureNet:
    return random_net(seed) if features is None else run_net(features, runs_dir)
