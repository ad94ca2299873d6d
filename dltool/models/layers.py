"""What the convolutional families share (course 4): shape arithmetic, the conv -> BN -> activation block, pooling,
the dense head, the size check, the argument checks and the two network skeletons the families fill in.

The input's rank picks the layers: an example of shape (L,) is a 1-channel signal (1, L); (C, L) is C channels of
length L (Conv1d); (C, H, W) is an image (Conv2d); (C, D, H, W) is a volume (Conv3d), as a CT or MRI scan or a
video's frames stacked along D. The families (``cnn``, ``resnet``, ``mobilenet``, ``inception``, ``alexnet``,
``vgg``) each build their networks from these pieces, so a 1-D, a 2-D and a 3-D net come from the same code.

A 3-D convolution is the 2-D one with a third axis: a kernel of f x f x f x C_in weights slides along depth, height
and width, and each axis's output size follows the same arithmetic, floor((n + 2p - f) / s) + 1 (course 4, week 4,
"1D and 3D generalizations of models"; PyTorch's ``nn.Conv3d`` documents the formula axis by axis). Its cost grows
with the third axis: f^3 weights a filter where an image's has f^2.
"""

from __future__ import annotations

import math

from torch import nn

from dltool.errors import UserError, check_number, choices
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer
from dltool.models.mlp import ACTIVATIONS

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
GLOBAL_AVG_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}  # Resize's mode by the number of spatial axes
SHAPES = "(L,), (C, L), (C, H, W) or (C, D, H, W)"  # the example shapes the conv families take


# ---------------------------------------------------------------------------------------------------------------------
# Shape arithmetic: pure functions on integers


def conv_output_size(n: int, f: int, p: int, s: int) -> int:
    """Output length of a convolution or pooling window along one axis: floor((n + 2p - f) / s) + 1.

    Args:
        n: input length; f: kernel (filter) size; p: padding on each side; s: stride.

    >>> conv_output_size(40, 5, 1, 2)  # the paper's first layer on MNIST-1D
    19
    >>> conv_output_size(8, 3, 1, 1)   # 'same' padding keeps the size at stride 1
    8
    """
    return (n + 2 * p - f) // s + 1


def padding_amount(padding: str | int, f: int) -> int:
    """Padding on each side: 'same' pads (f - 1) / 2 (the size is kept at stride 1), 'valid' pads nothing."""
    if padding == "same":
        return (f - 1) // 2
    if padding == "valid":
        return 0
    return padding


def scale_width(channels: int, width: float) -> int:
    """EfficientNet's width multiplier: channels scaled and rounded, never below one."""
    return max(1, round(channels * width))


def scale_depth(blocks: int, depth: float) -> int:
    """EfficientNet's depth multiplier: blocks scaled and rounded up, so a stage never disappears."""
    return max(1, math.ceil(blocks * depth))


# EfficientNet's compound scaling (Tan & Le 2019, "EfficientNet: rethinking model scaling for convolutional neural
# networks", section 3.3): depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi with alpha * beta^2 *
# gamma^2 ~ 2, so that each step of phi about doubles the multiply-adds; the paper's grid search on EfficientNet-B0
# chose these.
COMPOUND = {"depth": 1.2, "width": 1.1, "resolution": 1.15}


def compound_scaling(phi: float, depth: float, width: float, resolution: float) -> tuple[float, float, float]:
    """(depth, width, resolution) multipliers scaled together by one coefficient ``phi`` (0: unchanged)."""
    return (depth * COMPOUND["depth"] ** phi, width * COMPOUND["width"] ** phi,
            resolution * COMPOUND["resolution"] ** phi)


def scale_resolution(sizes: tuple[int, ...], resolution: float) -> tuple[int, ...]:
    """The spatial sizes an input is resized to by the resolution multiplier, rounded, never below one."""
    return tuple(max(1, round(n * resolution)) for n in sizes)


class Resize(nn.Module):
    """Resample every example to fixed spatial sizes (linear in 1-D, bilinear in 2-D, trilinear in 3-D): the
    resolution of compound scaling, done by the net so that the data and its splits stay as they are."""

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        self.sizes = tuple(sizes)
        self.mode = INTERPOLATION[len(sizes)]

    def forward(self, x):  # (B, C, *S) -> (B, C, *sizes)
        return nn.functional.interpolate(x, size=self.sizes, mode=self.mode, align_corners=False)


def conv_layout(input_shape: tuple[int, ...], model: str) -> tuple[int, int, tuple[int, ...]]:
    """(dims, channels, spatial sizes) of an example: (L,) -> (1, 1, (L,)); (C, L) -> (1, C, (L,)); (C, H, W) -> 2-D;
    (C, D, H, W) -> 3-D."""
    if len(input_shape) == 1:
        return 1, 1, tuple(input_shape)
    if len(input_shape) in (2, 3, 4):
        return len(input_shape) - 1, input_shape[0], tuple(input_shape[1:])
    raise UserError(f"model {model} takes examples of shape {SHAPES}; got {tuple(input_shape)}")


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks


class ConvBN(nn.Module):
    """Conv -> (BatchNorm) -> (activation). With batch norm the conv has no bias: BN's beta plays it.

    ``activation=None`` leaves the output linear (MobileNet v2's bottleneck, a residual branch before the sum).
    """

    def __init__(self, dims, c_in, c_out, kernel, stride=1, padding="same", groups=1, batch_norm=True,
                 activation: str | None = "relu", init="auto"):
        super().__init__()
        self.padding = padding_amount(padding, kernel)
        self.kernel, self.stride = kernel, stride
        self.conv = CONV[dims](c_in, c_out, kernel, stride=stride, padding=self.padding, groups=groups,
                               bias=not batch_norm)
        # ReLU6 is ReLU-like for initialization; a linear output gets Xavier under 'auto'
        init_layer(self.conv, init, {"relu6": "relu", None: "linear"}.get(activation, activation))
        self.bn = BATCH_NORM[dims](c_out) if batch_norm else nn.Identity()
        if activation is None:
            self.act = nn.Identity()
        else:
            self.act = nn.ReLU6() if activation == "relu6" else ACTIVATIONS[activation]()

    def output_size(self, n: int) -> int:
        return conv_output_size(n, self.kernel, self.padding, self.stride)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        return self.act(self.bn(self.conv(x)))


class Pool(nn.Module):
    """2x2 max or average pooling with stride 2 (course 4's usual choice): halves each axis, rounding down."""

    def __init__(self, dims, kind):
        super().__init__()
        self.pool = (MAX_POOL if kind == "max" else AVG_POOL)[dims](2, stride=2)

    def output_size(self, n: int) -> int:
        return conv_output_size(n, 2, 0, 2)

    def forward(self, x):  # (B, C, *S) -> (B, C, *S // 2)
        return self.pool(x)


# ---------------------------------------------------------------------------------------------------------------------
# The dense head, the size check and the argument checks


def dense_head(n_in, num_classes, hidden, activation, keep_prob, init) -> nn.Sequential:
    """[dropout -> Linear -> activation] per hidden layer, then dropout -> Linear to the logits (Xavier, as the MLP)."""
    layers: list[nn.Module] = []
    for units in hidden:
        if keep_prob < 1:
            layers.append(nn.Dropout(p=1 - keep_prob))  # inverted dropout, as in the MLP
        linear = nn.Linear(n_in, units)
        init_layer(linear, init, activation)
        layers += [linear, ACTIVATIONS[activation]()]
        n_in = units
    if keep_prob < 1:
        layers.append(nn.Dropout(p=1 - keep_prob))
    out = nn.Linear(n_in, num_classes)
    init_layer(out, "xavier" if init != "torch" else "torch", "linear")
    return nn.Sequential(*layers, out)


def sizes_after(layer, sizes: tuple[int, ...], where: str, input_shape, padding) -> tuple[int, ...]:
    """Spatial sizes after ``layer``; a UserError when the input is too small for the network."""
    out = tuple(layer.output_size(n) for n in sizes)
    if min(out) < 1:
        remedies = "fewer layers, smaller kernels or strides, pool=none"
        if padding != "same":
            remedies += ", padding=same"
        raise UserError(f"input {tuple(input_shape)} is too small for this network: it shrinks to nothing at {where}; "
                        f"try {remedies}")
    return out


def check_common(keep_prob, init) -> None:
    """The checks every conv family needs: its dropout and its initialization scheme."""
    check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
    if init not in SCHEMES:
        raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")


def check_stages(channels, blocks, width, depth) -> None:
    """The stage layout of the staged nets (ResNet, MobileNet): one channel and one block count per stage."""
    if not isinstance(channels, (list, tuple)) or not channels:
        raise UserError(f"model.channels must be a non-empty list with one channel count per stage, got {channels!r}")
    for c in channels:
        check_number(c, "model.channels (each stage)", low=1, integer=True)
    if not isinstance(blocks, (list, tuple)) or len(blocks) != len(channels):
        raise UserError(f"model.blocks must be a list with one block count per stage ({len(channels)}), got {blocks!r}")
    for b in blocks:
        check_number(b, "model.blocks (each stage)", low=1, integer=True)
    check_number(width, "model.width", low=0, low_open=True)
    check_number(depth, "model.depth", low=0, low_open=True)


# ---------------------------------------------------------------------------------------------------------------------
# Network skeletons


class ConvNet(Net):
    """features (conv blocks) -> pool (flatten or global average) -> head; reshapes (B, *input_shape) to (B, C, *S)
    first."""

    conv_shape: tuple[int, ...]

    def __init__(self):
        super().__init__()
        self.resize = nn.Identity()  # a Resize of the input first where a net scales its resolution (no weights)

    def forward_features(self, x):  # (B, *input_shape) -> (B, D): the pooled or flattened maps
        # (B, C, L), (B, C, H, W) or (B, C, D, H, W); shape[0]: an export keeps B dynamic
        x = x.reshape(x.shape[0], *self.conv_shape)
        return self.pool(self.features(self.resize(x)))


class GAPNet(ConvNet):
    """Shared tail of the ResNet, MobileNet and Inception nets: global average pooling -> dropout -> linear."""

    def _finish(self, dims, features: list[nn.Module], c_out, num_classes, keep_prob, init):
        self.features = nn.Sequential(*features)
        self.pool = nn.Sequential(GLOBAL_AVG_POOL[dims](1), nn.Flatten())
        self.head = dense_head(c_out, num_classes, [], "relu", keep_prob, init)
