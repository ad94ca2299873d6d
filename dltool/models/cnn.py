"""Plain convolutional networks (course 4): a generic conv net, the MNIST-1D paper's ConvNet and LeNet-5.

Each is a stack of conv layers (with optional pooling) and a dense head, 1-D, 2-D or 3-D by the input's rank (see
``dltool.models.layers``, which holds the pieces these and the ResNet, MobileNet, Inception, AlexNet and VGG families
share).
"""

from __future__ import annotations

import math

from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.layers import GLOBAL_AVG_POOL, ConvBN, ConvNet, Pool, check_common, conv_layout, dense_head, \
    sizes_after
from dltool.models.mlp import ACTIVATIONS

PADDINGS = ("same", "valid")
POOLS = ("max", "avg", "none")
HEADS = ("flatten", "gap")


def _listify(value, n: int, key: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise UserError(f"{key} has {len(values)} values for {n} layers")
    return values


@register_model("cnn")
class CNN(ConvNet):
    """[conv -> (BatchNorm) -> activation -> (2x2 pool)] per layer -> flatten or global average pool -> [FC] -> logits.

    Args:
        input_shape: (L,), (C, L), (C, H, W) or (C, D, H, W) (a volume: Conv3d).
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
        check_common(keep_prob, init)

        layers: list[nn.Module] = []
        for i, (c_out, k, s) in enumerate(zip(channels, kernels, strides), 1):
            conv = ConvBN(dims, c_in, c_out, k, stride=s, padding=padding, batch_norm=batch_norm,
                          activation=activation, init=init)
            sizes = sizes_after(conv, sizes, f"conv layer {i}", input_shape, padding)
            layers.append(conv)
            if pool != "none":
                layers.append(Pool(dims, pool))
                sizes = sizes_after(layers[-1], sizes, f"the pooling after conv layer {i}", input_shape, padding)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        # the head's input size comes from the shape arithmetic above, not from a trial forward pass
        if head == "gap":
            self.pool = nn.Sequential(GLOBAL_AVG_POOL[dims](1), nn.Flatten())
            n_features = c_in
        else:
            self.pool = nn.Flatten()
            n_features = c_in * math.prod(sizes)
        self.head = dense_head(n_features, num_classes, list(hidden), activation, keep_prob, init)


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
