"""Weight initialization (course 2): He for ReLU-like activations, Xavier for tanh and sigmoid."""

from __future__ import annotations

from torch import nn

from dltool.errors import UserError, choices

SCHEMES = ("auto", "he", "xavier", "torch")


def natural_scheme(activation: str) -> str:
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


def init_layer(layer: nn.Module, scheme: str, activation: str) -> None:
    """Initialize one linear or convolutional layer in place; biases start at zero.

    he:     W ~ N(0, 2 / fan_in)                  (He et al. 2015; 2 / ((1 + a^2) fan_in) for leaky ReLU)
    xavier: W ~ N(0, 2 / (fan_in + fan_out))      (Glorot & Bengio 2010)
    torch:  PyTorch's own default, untouched
    """
    if scheme not in SCHEMES:
        raise UserError(f"unknown init '{scheme}'; choose from: {choices(SCHEMES)}")
    if scheme == "auto":
        scheme = natural_scheme(activation)
    if scheme == "torch":
        return
    if scheme == "he":
        nonlinearity = activation if activation in ("relu", "leaky_relu") else "relu"
        nn.init.kaiming_normal_(layer.weight, a=0.01 if nonlinearity == "leaky_relu" else 0, nonlinearity=nonlinearity)
    else:
        nn.init.xavier_normal_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
