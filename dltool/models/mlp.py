"""Fully connected networks (course 1-2) with every regularization knob: dropout, batch norm, He/Xavier init."""

from __future__ import annotations

import math

from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import init_layer

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


@register_model("mlp")
class MLP(Net):
    """[Linear -> (BatchNorm) -> activation -> (inverted dropout)] x L -> Linear (logits for softmax).

    Args:
        input_shape: shape of one example; it is flattened.
        num_classes: number of output units.
        hidden: units of each hidden layer; ``[]`` gives multinomial logistic regression.
        activation: relu, leaky_relu, tanh or sigmoid.
        init: auto (the activation's natural choice), he, xavier or torch.
        keep_prob: probability of keeping a unit (inverted dropout); one value or one per hidden layer.
        batch_norm: normalize each hidden layer's pre-activations (its linear layer then has no bias: BN's beta is it).
        residual: add each hidden layer's input to its output where their widths match, ``h = h + layer(h)``
            (ResNet's identity shortcut; the MNIST-1D paper's MLP has one around its second layer).
    """

    def __init__(self, input_shape, num_classes, hidden=(100, 100), activation="relu", init="auto", keep_prob=1.0,
                 batch_norm=False, residual=False):
        super().__init__()
        if not isinstance(hidden, (list, tuple)):
            raise UserError(f"model.hidden must be a list of layer sizes such as [100,100], got {hidden!r}")
        hidden = list(hidden)
        check_bool(batch_norm, "model.batch_norm")
        check_bool(residual, "model.residual")
        for units in hidden:
            check_number(units, "model.hidden (each layer)", low=1, integer=True)
        if activation not in ACTIVATIONS:
            raise UserError(f"unknown activation '{activation}'; choose from: {choices(ACTIVATIONS)}")
        keeps = list(keep_prob) if isinstance(keep_prob, (list, tuple)) else [keep_prob] * len(hidden)
        if len(keeps) != len(hidden):
            raise UserError(f"model.keep_prob has {len(keeps)} values for {len(hidden)} hidden layers")
        for keep in keeps:
            check_number(keep, "model.keep_prob", low=0, high=1, low_open=True)

        layers: list[nn.Module] = [nn.Flatten()]
        n_in = math.prod(input_shape)
        widths = [n_in, *hidden]
        if residual and not any(a == b for a, b in zip(widths, widths[1:])):
            raise UserError(f"model.residual needs a hidden layer as wide as its input, got hidden={hidden} "
                            f"on {n_in} inputs")
        for units, keep in zip(hidden, keeps):
            linear = nn.Linear(n_in, units, bias=not batch_norm)
            init_layer(linear, init, activation)
            layer: list[nn.Module] = [linear]
            if batch_norm:
                layer.append(nn.BatchNorm1d(units))
            layer.append(ACTIVATIONS[activation]())
            if keep < 1:
                layer.append(nn.Dropout(p=1 - keep))  # inverted: scales kept units by 1/keep_prob while training
            layers += [Residual(nn.Sequential(*layer))] if residual and units == n_in else layer
            n_in = units
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(n_in, num_classes)
        init_layer(self.head, "xavier" if init != "torch" else "torch", "linear")

    def forward_features(self, x):  # (B, *input_shape) -> (B, last hidden width): the head's input
        return self.features(x)


class Residual(nn.Module):
    """``x + block(x)``: an identity shortcut around a block that keeps the width."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)
