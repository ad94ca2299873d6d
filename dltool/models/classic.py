"""Course 4's classic networks beside LeNet-5 (dltool.models.cnn): AlexNet (Krizhevsky, Sutskever & Hinton 2012,
"ImageNet classification with deep convolutional neural networks") and VGG (Simonyan & Zisserman 2014, "Very deep
convolutional networks for large-scale image recognition"), scaled down to dltool's small inputs and 1-D, 2-D or 3-D
by the input's rank (dltool.models.layers).

AlexNet's ideas kept: ReLU everywhere; local response normalization after the first two conv layers, each
activation divided by (k + alpha/n * sum of the squares of its n neighbouring channels)^beta with the paper's
k = 2, n = 5, alpha = 1e-4, beta = 0.75 (``torch.nn.LocalResponseNorm``; the course notes that later work found it
helps little); overlapping max pooling (3 wide, stride 2) after conv layers 1, 2 and 5; two large fully connected
layers with dropout 0.5 before the output. The paper's 11x11 stride-4 first layer would swallow an 8x8 digit whole,
so the first kernel here is 5 at stride 1 (``kernel_sizes``).

VGG's idea: only 3x3 convolutions ('same' padding, stride 1) and 2x2 max pools with stride 2, in stages whose
channels double (VGG-16: 64, 128, 256, 512, 512 with 2, 2, 3, 3, 3 convs); then two fully connected layers with
dropout 0.5. Here three stages of 32, 64 and 128 channels with 2, 2 and 3 convs by default, and the depth is kept
when a small input cannot be pooled again (a stage's pool is skipped once a side is 1).
"""

from __future__ import annotations

import math

from torch import nn

from dltool.errors import UserError, check_bool, check_number
from dltool.models import register_model
from dltool.models.layers import MAX_POOL, ConvBN, ConvNet, check_common, conv_layout, conv_output_size, \
    dense_head, sizes_after

LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}  # Krizhevsky et al. 2012, section 3.3


class OverlappingPool(nn.Module):
    """AlexNet's max pooling: windows of 3 with stride 2 (they overlap), padded by 1 so that a small input halves."""

    def __init__(self, dims):
        super().__init__()
        self.pool = MAX_POOL[dims](3, stride=2, padding=1)

    def output_size(self, n: int) -> int:
        return conv_output_size(n, 3, 1, 2)

    def forward(self, x):
        return self.pool(x)


class StagePool(nn.Module):
    """VGG's 2x2 max pool with stride 2."""

    def __init__(self, dims):
        super().__init__()
        self.pool = MAX_POOL[dims](2, stride=2)

    def output_size(self, n: int) -> int:
        return conv_output_size(n, 2, 0, 2)

    def forward(self, x):
        return self.pool(x)


def _check_list(values, key: str, what: str) -> list[int]:
    if not isinstance(values, (list, tuple)) or not values:
        raise UserError(f"model.{key} must be a non-empty list of {what}, got {values!r}")
    for v in values:
        check_number(v, f"model.{key} (each)", low=1, integer=True)
    return list(values)


class AlexNet(ConvNet):
    """conv -> ReLU -> LRN -> pool, conv -> ReLU -> LRN -> pool, conv -> ReLU (x 3) -> pool, FC -> FC -> logits.

    Args:
        channels: the five conv layers' output channels (the paper's 96, 256, 384, 384, 256, scaled down).
        kernel_sizes: their kernel sizes (the paper's 11, 5, 3, 3, 3; its first at stride 4).
        hidden: the fully connected layers' units (the paper's 4096, 4096).
        lrn: local response normalization after conv layers 1 and 2 (false: the ablation).
        keep_prob: inverted dropout before each fully connected layer (the paper's 0.5).
        init: auto (He), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(32, 64, 96, 96, 64), kernel_sizes=(5, 5, 3, 3, 3),
                 hidden=(256, 256), lrn=True, keep_prob=0.5, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "alexnet")
        self.conv_shape = (c_in, *sizes)
        channels = _check_list(channels, "channels", "five channel counts")
        kernels = _check_list(kernel_sizes, "kernel_sizes", "five odd kernel sizes")
        if len(channels) != 5 or len(kernels) != 5:
            raise UserError(f"model alexnet has five conv layers: model.channels and model.kernel_sizes need five "
                            f"values each, got {len(channels)} and {len(kernels)}")
        if any(k % 2 == 0 for k in kernels):
            raise UserError(f"model.kernel_sizes must be odd ('same' padding), got {kernels}")
        hidden = _check_list(hidden, "hidden", "layer sizes") if hidden else []
        check_bool(lrn, "model.lrn")
        check_common(keep_prob, init)
        layers: list[nn.Module] = []
        for i, (c_out, k) in enumerate(zip(channels, kernels), 1):
            block = [ConvBN(dims, c_in, c_out, k, batch_norm=False, init=init)]
            sizes = sizes_after(block[0], sizes, f"conv layer {i}", input_shape, "same")
            if lrn and i <= 2:
                block.append(nn.LocalResponseNorm(**LRN))
            if i in (1, 2, 5):
                block.append(OverlappingPool(dims))
                sizes = sizes_after(block[-1], sizes, f"the pooling after conv layer {i}", input_shape, "same")
            layers.append(nn.Sequential(*block))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.Flatten()
        self.head = dense_head(c_in * math.prod(sizes), num_classes, hidden, "relu", keep_prob, init)


class VGG(ConvNet):
    """Stages of [3x3 conv -> (BN) -> ReLU] x n -> 2x2 max pool, then FC -> FC -> logits.

    Args:
        channels: each stage's output channels (VGG-16's 64, 128, 256, 512, 512).
        convs: each stage's number of 3x3 convolutions (VGG-16's 2, 2, 3, 3, 3).
        hidden: the fully connected layers' units (the paper's 4096, 4096).
        batch_norm: batch norm after every convolution (VGG-BN, a later variant; the paper has none).
        keep_prob: inverted dropout before each fully connected layer (the paper's 0.5).
        init: auto (He), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(32, 64, 128), convs=(2, 2, 3), hidden=(256, 256),
                 batch_norm=False, keep_prob=0.5, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "vgg")
        self.conv_shape = (c_in, *sizes)
        channels = _check_list(channels, "channels", "channel counts, one a stage")
        convs = _check_list(convs, "convs", "conv counts, one a stage")
        if len(convs) != len(channels):
            raise UserError(f"model.convs must give one conv count a stage ({len(channels)}), got {convs!r}")
        hidden = _check_list(hidden, "hidden", "layer sizes") if hidden else []
        check_bool(batch_norm, "model.batch_norm")
        check_common(keep_prob, init)
        stages: list[nn.Module] = []
        for stage, (c_out, n) in enumerate(zip(channels, convs), 1):
            block: list[nn.Module] = []
            for _ in range(n):
                block.append(ConvBN(dims, c_in, c_out, 3, batch_norm=batch_norm, init=init))
                c_in = c_out
            if min(sizes) >= 2:  # an input too small to halve again keeps its size (and the stage its convs)
                block.append(StagePool(dims))
                sizes = sizes_after(block[-1], sizes, f"the pooling of stage {stage}", input_shape, "same")
            stages.append(nn.Sequential(*block))
        self.features = nn.Sequential(*stages)
        self.pool = nn.Flatten()
        self.head = dense_head(c_in * math.prod(sizes), num_classes, hidden, "relu", keep_prob, init)


@register_model("alexnet")
def alexnet(input_shape, num_classes, channels=(32, 64, 96, 96, 64), kernel_sizes=(5, 5, 3, 3, 3), hidden=(256, 256),
            lrn=True, keep_prob=0.5, init="auto"):
    """AlexNet style (Krizhevsky et al. 2012): five ReLU conv layers, LRN and overlapping pooling, two FC layers."""
    return AlexNet(input_shape, num_classes, channels, kernel_sizes, hidden, lrn, keep_prob, init)


@register_model("vgg")
def vgg(input_shape, num_classes, channels=(32, 64, 128), convs=(2, 2, 3), hidden=(256, 256), batch_norm=False,
        keep_prob=0.5, init="auto"):
    """VGG style (Simonyan & Zisserman 2014): stages of 3x3 convolutions and 2x2 pools, two FC layers."""
    return VGG(input_shape, num_classes, channels, convs, hidden, batch_norm, keep_prob, init)
