"""Convolutional networks (course 4), 1-D and 2-D from the same code: a generic conv net, the MNIST-1D paper's ConvNet,
LeNet-5, a small ResNet, MobileNet v1/v2 and an Inception-style net.

The input's rank picks the layers: an example of shape (L,) is a 1-channel signal (1, L); (C, L) is C channels of
length L (Conv1d); (C, H, W) is an image (Conv2d). Every variant below is built from the blocks in this file.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.init import SCHEMES, init_layer
from dltool.models.mlp import ACTIVATIONS

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d}
PADDINGS = ("same", "valid")
POOLS = ("max", "avg", "none")
HEADS = ("flatten", "gap")


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


def conv_layout(input_shape: tuple[int, ...], model: str) -> tuple[int, int, tuple[int, ...]]:
    """(dims, channels, spatial sizes) of an example: (L,) -> (1, 1, (L,)); (C, L) -> (1, C, (L,)); (C, H, W) -> 2-D."""
    if len(input_shape) == 1:
        return 1, 1, tuple(input_shape)
    if len(input_shape) in (2, 3):
        return len(input_shape) - 1, input_shape[0], tuple(input_shape[1:])
    raise UserError(f"model {model} takes examples of shape (L,), (C, L) or (C, H, W); got {tuple(input_shape)}")


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


class ResidualBlock(nn.Module):
    """He et al.'s basic block: out = ReLU(BN(conv3(ReLU(BN(conv3(x))))) + shortcut(x)).

    The shortcut is the identity when shapes match, else a 1x1 conv (with the block's stride) + BN that projects x to
    the new channels and size, so the sum is defined. Because the block only has to learn a correction to its input,
    deep stacks stay trainable.
    """

    def __init__(self, dims, c_in, c_out, stride=1, kernel=3, init="auto"):
        super().__init__()
        self.conv1 = ConvBN(dims, c_in, c_out, kernel, stride=stride, init=init)
        # no activation before the sum, but a ReLU follows it: He, not Xavier, under 'auto'
        self.conv2 = ConvBN(dims, c_out, c_out, kernel, activation=None, init="he" if init == "auto" else init)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = ConvBN(dims, c_in, c_out, 1, stride=stride, activation=None, init=init)
        self.act = nn.ReLU()

    def output_size(self, n: int) -> int:
        return self.conv1.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class DepthwiseSeparable(nn.Module):
    """MobileNet v1: a depthwise conv (one filter per channel, groups = channels) then a 1x1 pointwise conv.

    It costs about 1/c_out + 1/k^d of a full k^d convolution's multiplications.
    """

    def __init__(self, dims, c_in, c_out, stride=1, kernel=3, init="auto"):
        super().__init__()
        self.depthwise = ConvBN(dims, c_in, c_in, kernel, stride=stride, groups=c_in, init=init)
        self.pointwise = ConvBN(dims, c_in, c_out, 1, init=init)

    def output_size(self, n: int) -> int:
        return self.depthwise.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """MobileNet v2: 1x1 expansion -> depthwise conv -> linear 1x1 bottleneck, plus the input when shapes match.

    The bottleneck has no activation: a ReLU in the narrow space would destroy information (Sandler et al. 2018).
    """

    def __init__(self, dims, c_in, c_out, stride=1, expansion=6, kernel=3, init="auto"):
        super().__init__()
        hidden = c_in * expansion
        layers = [ConvBN(dims, c_in, hidden, 1, activation="relu6", init=init)] if expansion != 1 else []
        layers += [
            ConvBN(dims, hidden, hidden, kernel, stride=stride, groups=hidden, activation="relu6", init=init),
            ConvBN(dims, hidden, c_out, 1, activation=None, init=init),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out
        self.depthwise = layers[-2]

    def output_size(self, n: int) -> int:
        return self.depthwise.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        out = self.block(x)
        return x + out if self.residual else out


class Inception(nn.Module):
    """GoogLeNet's block: parallel 1x1 / 1x1->3x3 / 1x1->5x5 / 3x3 max-pool->1x1 branches, concatenated by channel.

    The 1x1 reductions shrink the channels before the expensive 3x3 and 5x5 convolutions; every branch keeps the size
    ('same' padding, stride 1), so the outputs stack. Output channels = c1 + c3 + c5 + pool_proj.
    """

    def __init__(self, dims, c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, init="auto"):
        super().__init__()
        self.branch1 = ConvBN(dims, c_in, c1, 1, init=init)
        self.branch3 = nn.Sequential(ConvBN(dims, c_in, c3_reduce, 1, init=init),
                                     ConvBN(dims, c3_reduce, c3, 3, init=init))
        self.branch5 = nn.Sequential(ConvBN(dims, c_in, c5_reduce, 1, init=init),
                                     ConvBN(dims, c5_reduce, c5, 5, init=init))
        self.branch_pool = nn.Sequential(MAX_POOL[dims](3, stride=1, padding=1),
                                         ConvBN(dims, c_in, pool_proj, 1, init=init))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x):  # (B, C_in, *S) -> (B, c1 + c3 + c5 + pool_proj, *S)
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class Pool(nn.Module):
    """2x2 max or average pooling with stride 2 (course 4's usual choice): halves each axis, rounding down."""

    def __init__(self, dims, kind):
        super().__init__()
        self.pool = (MAX_POOL if kind == "max" else AVG_POOL)[dims](2, stride=2)

    def output_size(self, n: int) -> int:
        return conv_output_size(n, 2, 0, 2)

    def forward(self, x):  # (B, C, *S) -> (B, C, *S // 2)
        return self.pool(x)


def _head(n_in, num_classes, hidden, activation, keep_prob, init) -> nn.Sequential:
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


def _sizes_after(layer, sizes: tuple[int, ...], where: str, input_shape, padding) -> tuple[int, ...]:
    """Spatial sizes after ``layer``; a UserError when the input is too small for the network."""
    out = tuple(layer.output_size(n) for n in sizes)
    if min(out) < 1:
        remedies = "fewer layers, smaller kernels or strides, pool=none"
        if padding != "same":
            remedies += ", padding=same"
        raise UserError(f"input {tuple(input_shape)} is too small for this network: it shrinks to nothing at {where}; "
                        f"try {remedies}")
    return out


def _listify(value, n: int, key: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise UserError(f"{key} has {len(values)} values for {n} layers")
    return values


def _check_common(keep_prob, init) -> None:
    check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
    if init not in SCHEMES:
        raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")


class _ConvNet(nn.Module):
    """features (conv blocks) -> head; reshapes (B, *input_shape) to (B, C, *S) first."""

    conv_shape: tuple[int, ...]

    def forward(self, x):  # (B, *input_shape) -> (B, num_classes)
        x = x.reshape(len(x), *self.conv_shape)  # (B, C, L) or (B, C, H, W)
        return self.head(self.pool(self.features(x)))


# ---------------------------------------------------------------------------------------------------------------------
# Models


@register_model("cnn")
class CNN(_ConvNet):
    """[conv -> (BatchNorm) -> activation -> (2x2 pool)] per layer -> flatten or global average pool -> [FC] -> logits.

    Args:
        input_shape: (L,), (C, L) or (C, H, W).
        num_classes: number of output units.
        channels: output channels of each conv layer.
        kernel_sizes: one kernel size for all layers, or one per layer.
        strides: one stride for all layers, or one per layer.
        padding: same (keep the size at stride 1; odd kernels), valid (none) or a number of units on each side.
        pool: max, avg or none: a 2x2 pooling with stride 2 after each conv layer.
        batch_norm: batch norm between each conv and its activation.
        head: flatten (keeps where a feature was) or gap (global average pooling: one number per channel).
        hidden: units of fully connected layers between the features and the output layer.
        activation: relu, leaky_relu, tanh or sigmoid.
        keep_prob: inverted dropout before each fully connected layer; 1.0 = off.
        init: auto, he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(32, 32, 32), kernel_sizes=5, strides=1, padding="same",
                 pool="max", batch_norm=True, head="flatten", hidden=(), activation="relu", keep_prob=1.0,
                 init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "cnn")
        self.conv_shape = (c_in, *sizes)
        if not isinstance(channels, (list, tuple)) or not channels:
            raise UserError(f"model.channels must be a non-empty list of channel counts such as [32,32], "
                            f"got {channels!r}")
        for c in channels:
            check_number(c, "model.channels (each layer)", low=1, integer=True)
        kernels = _listify(kernel_sizes, len(channels), "model.kernel_sizes")
        strides = _listify(strides, len(channels), "model.strides")
        for k in kernels:
            check_number(k, "model.kernel_sizes", low=1, integer=True)
            if padding == "same" and k % 2 == 0:
                raise UserError(f"model.kernel_sizes must be odd with padding=same, got {k}")
        for s in strides:
            check_number(s, "model.strides", low=1, integer=True)
        if padding not in PADDINGS and (isinstance(padding, bool) or not isinstance(padding, int) or padding < 0):
            raise UserError(f"model.padding must be same, valid or a number of units >= 0, got {padding!r}")
        if pool not in POOLS:
            raise UserError(f"unknown model.pool '{pool}'; choose from: {choices(POOLS)}")
        if head not in HEADS:
            raise UserError(f"unknown model.head '{head}'; choose from: {choices(HEADS)}")
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation '{activation}'; choose from: {choices(ACTIVATIONS)}")
        check_bool(batch_norm, "model.batch_norm")
        if not isinstance(hidden, (list, tuple)):
            raise UserError(f"model.hidden must be a list of layer sizes such as [100], got {hidden!r}")
        for units in hidden:
            check_number(units, "model.hidden (each layer)", low=1, integer=True)
        _check_common(keep_prob, init)

        layers: list[nn.Module] = []
        for i, (c_out, k, s) in enumerate(zip(channels, kernels, strides), 1):
            conv = ConvBN(dims, c_in, c_out, k, stride=s, padding=padding, batch_norm=batch_norm,
                          activation=activation, init=init)
            sizes = _sizes_after(conv, sizes, f"conv layer {i}", input_shape, padding)
            layers.append(conv)
            if pool != "none":
                layers.append(Pool(dims, pool))
                sizes = _sizes_after(layers[-1], sizes, f"the pooling after conv layer {i}", input_shape, padding)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        # the head's input size comes from the shape arithmetic above, not from a trial forward pass
        if head == "gap":
            self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten())
            n_features = c_in
        else:
            self.pool = nn.Flatten()
            n_features = c_in * math.prod(sizes)
        self.head = _head(n_features, num_classes, list(hidden), activation, keep_prob, init)


@register_model("cnn_paper")
def cnn_paper(input_shape, num_classes):
    """The MNIST-1D paper's ConvNet: 3 x Conv1d(25; k5 s2 p1, k3 s2 p1, k3 s2 p1) + ReLU -> flatten -> Linear.

    On (40,) the sizes go 40 -> 19 -> 10 -> 5, so the head is Linear(125 -> 10): 5,210 parameters. PyTorch's default
    initialization, no batch norm, no pooling, no dropout: as published (Greydanus & Kobak, 2024).
    """
    conv_layout(input_shape, "cnn_paper")  # a shape it cannot take is reported under this model's name
    return CNN(input_shape, num_classes, channels=[25, 25, 25], kernel_sizes=[5, 3, 3], strides=2, padding=1,
               pool="none", batch_norm=False, head="flatten", init="torch")


@register_model("lenet")
def lenet(input_shape, num_classes, channels=(6, 16), hidden=(120, 84), activation="relu", pool="max",
          batch_norm=False, keep_prob=1.0, init="auto"):
    """LeNet-5 style: conv5 -> pool -> conv5 -> pool -> FC 120 -> FC 84 -> logits (LeCun et al. 1998).

    'same' padding where LeNet had none, so 8x8 digits (8 -> 4 -> 2) and length-40 signals (40 -> 20 -> 10) fit;
    ReLU and max pooling by default where the original had tanh-like units and average pooling (activation=tanh
    pool=avg gives those back).
    """
    conv_layout(input_shape, "lenet")  # a shape it cannot take is reported under this model's name
    return CNN(input_shape, num_classes, channels=channels, kernel_sizes=5, strides=1, padding="same", pool=pool,
               batch_norm=batch_norm, head="flatten", hidden=hidden, activation=activation, keep_prob=keep_prob,
               init=init)


def _check_stages(channels, blocks, width, depth) -> None:
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


class _GAPNet(_ConvNet):
    """Shared tail of the ResNet, MobileNet and Inception nets: global average pooling -> dropout -> linear."""

    def _finish(self, dims, features: list[nn.Module], c_out, num_classes, keep_prob, init):
        self.features = nn.Sequential(*features)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = _head(c_out, num_classes, [], "relu", keep_prob, init)


@register_model("resnet")
class ResNet(_GAPNet):
    """A small ResNet: conv3 stem -> stages of residual blocks -> global average pool -> linear.

    Each stage after the first halves the size (stride 2 in its first block, with a 1x1 projection shortcut).

    Args:
        channels: channels of each stage (before the width multiplier); the stem has the first stage's.
        blocks: residual blocks in each stage (before the depth multiplier).
        width: multiplies every channel count (EfficientNet's width scaling).
        depth: multiplies every stage's number of blocks, rounding up (EfficientNet's depth scaling).
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(16, 32, 64), blocks=(1, 1, 1), width=1.0, depth=1.0,
                 keep_prob=1.0, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "resnet")
        self.conv_shape = (c_in, *sizes)
        _check_stages(channels, blocks, width, depth)
        _check_common(keep_prob, init)
        channels = [scale_width(c, width) for c in channels]
        layers: list[nn.Module] = [ConvBN(dims, c_in, channels[0], 3, init=init)]
        c_in = channels[0]
        for stage, (c_out, n) in enumerate(zip(channels, blocks)):
            for b in range(scale_depth(n, depth)):
                layers.append(ResidualBlock(dims, c_in, c_out, stride=2 if stage > 0 and b == 0 else 1, init=init))
                c_in = c_out
        self._finish(dims, layers, c_in, num_classes, keep_prob, init)


class MobileNet(_GAPNet):
    """MobileNet: conv3 stem -> stages of v2 inverted residual (or v1 depthwise separable) blocks -> GAP -> linear.

    Each stage after the first halves the size in its first block.

    Args:
        channels: output channels of each stage (before the width multiplier); the stem has the first stage's.
        blocks: blocks in each stage (before the depth multiplier).
        expansion: v2's expansion factor of the inverted residual's hidden layer (ignored by v1 blocks).
        width: MobileNet's width multiplier alpha: multiplies every channel count.
        depth: multiplies every stage's number of blocks, rounding up (EfficientNet's depth scaling).
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
        version: 2 (inverted residuals, ReLU6) or 1 (depthwise separable convolutions, ReLU).
    """

    def __init__(self, input_shape, num_classes, channels=(16, 24, 32), blocks=(1, 2, 2), expansion=4, width=1.0,
                 depth=1.0, keep_prob=1.0, init="auto", version=2):
        super().__init__()
        name = "mobilenet" if version == 2 else "mobilenet_v1"
        dims, c_in, sizes = conv_layout(input_shape, name)
        self.conv_shape = (c_in, *sizes)
        _check_stages(channels, blocks, width, depth)
        check_number(expansion, "model.expansion", low=1, integer=True)
        _check_common(keep_prob, init)
        channels = [scale_width(c, width) for c in channels]
        layers: list[nn.Module] = [ConvBN(dims, c_in, channels[0], 3, activation="relu6" if version == 2 else "relu",
                                          init=init)]
        c_in = channels[0]
        for stage, (c_out, n) in enumerate(zip(channels, blocks)):
            for b in range(scale_depth(n, depth)):
                stride = 2 if stage > 0 and b == 0 else 1
                if version == 2:
                    layers.append(InvertedResidual(dims, c_in, c_out, stride=stride, expansion=expansion, init=init))
                else:
                    layers.append(DepthwiseSeparable(dims, c_in, c_out, stride=stride, init=init))
                c_in = c_out
        self._finish(dims, layers, c_in, num_classes, keep_prob, init)


@register_model("mobilenet")
def mobilenet(input_shape, num_classes, channels=(16, 24, 32), blocks=(1, 2, 2), expansion=4, width=1.0, depth=1.0,
              keep_prob=1.0, init="auto"):
    """MobileNet v2 (Sandler et al. 2018): inverted residuals with expansion and a linear bottleneck."""
    return MobileNet(input_shape, num_classes, channels, blocks, expansion, width, depth, keep_prob, init, version=2)


@register_model("mobilenet_v1")
def mobilenet_v1(input_shape, num_classes, channels=(16, 32, 64), blocks=(1, 1, 1), width=1.0, depth=1.0,
                 keep_prob=1.0, init="auto"):
    """MobileNet v1 (Howard et al. 2017): depthwise separable convolutions."""
    return MobileNet(input_shape, num_classes, channels, blocks, 1, width, depth, keep_prob, init, version=1)


@register_model("inception")
class InceptionNet(_GAPNet):
    """A small Inception net: conv3 stem -> inception -> 3x3 max pool, stride 2 -> inception -> GAP -> linear.

    Branch widths follow GoogLeNet's proportions (inception 3a/3b divided by 8: 1x1 gets about a quarter, 3x3 half,
    5x5 and pool an eighth each).

    Args:
        width: multiplies every channel count.
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
    """

    STEM = 24
    BLOCKS = ((8, 12, 16, 2, 4, 4),     # (c1, c3_reduce, c3, c5_reduce, c5, pool_proj): 32 channels out
              (16, 16, 24, 4, 12, 8))   # 60 channels out

    def __init__(self, input_shape, num_classes, width=1.0, keep_prob=1.0, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "inception")
        self.conv_shape = (c_in, *sizes)
        check_number(width, "model.width", low=0, low_open=True)
        _check_common(keep_prob, init)
        stem = scale_width(self.STEM, width)
        block1 = Inception(dims, stem, *(scale_width(c, width) for c in self.BLOCKS[0]), init=init)
        block2 = Inception(dims, block1.out_channels, *(scale_width(c, width) for c in self.BLOCKS[1]), init=init)
        layers = [ConvBN(dims, c_in, stem, 3, init=init), block1, MAX_POOL[dims](3, stride=2, padding=1), block2]
        self._finish(dims, layers, block2.out_channels, num_classes, keep_prob, init)
