"""Recurrent networks (course 5): vanilla RNN, GRU and LSTM; stacked, bidirectional, many-to-one classification.

An example becomes a sequence of time steps (see ``as_sequence``): (L,) is L steps of one feature, (C, L) is L steps of
C features, an image (C, H, W) is H steps (rows) of C * W features.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
READOUTS = ("last", "mean", "flatten")


def sequence_layout(input_shape: tuple[int, ...], model: str) -> tuple[int, int]:
    """(time steps, features per step) of an example: (L,) -> (L, 1); (C, L) -> (L, C); (C, H, W) -> (H, C * W)."""
    if len(input_shape) == 1:
        return input_shape[0], 1
    if len(input_shape) == 2:
        return input_shape[1], input_shape[0]
    if len(input_shape) == 3:
        return input_shape[1], input_shape[0] * input_shape[2]
    raise UserError(f"model {model} takes examples of shape (L,), (C, L) or (C, H, W); got {tuple(input_shape)}")


def as_sequence(x: torch.Tensor) -> torch.Tensor:
    """(B, L) -> (B, L, 1); (B, C, L) -> (B, L, C); (B, C, H, W) -> (B, H, C * W): batch first, time second.

    It reads the layout from the tensor, not from the model's input shape, so shorter sequences of the same kind pass.
    """
    if x.dim() == 2:
        return x.unsqueeze(-1)  # (B, L, 1)
    if x.dim() == 3:
        return x.transpose(1, 2)  # (B, L, C)
    b, c, h, w = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, h, c * w)  # (B, H, C * W): each row of every channel is one step


class RNN(Net):
    """Embed nothing, recur, read out, classify: [RNN/GRU/LSTM layer] x layers -> readout -> (dropout) -> Linear.

    Args:
        input_shape: (L,), (C, L) or (C, H, W); see ``sequence_layout``.
        num_classes: number of output units.
        cell: rnn (tanh), gru or lstm.
        hidden: units of each layer's state (per direction).
        layers: stacked recurrent layers (a deep RNN): each reads the outputs of the one below.
        bidirectional: a second pass from the end to the start in every layer; outputs are concatenated.
        readout: last (the final state of the top layer; both directions' finals when bidirectional), mean (outputs
            averaged over time) or flatten (all time steps' outputs concatenated, as the MNIST-1D paper's GRU does).
        keep_prob: inverted dropout on every layer's outputs: between stacked layers and before the output layer.
        init: the output layer's initialization: auto (Xavier), he, xavier or torch. The recurrent weights keep
            PyTorch's uniform(+-1/sqrt(hidden)), the usual choice for gated cells.
    """

    def __init__(self, input_shape, num_classes, cell="gru", hidden=64, layers=1, bidirectional=False, readout="last",
                 keep_prob=1.0, init="auto"):
        super().__init__()
        steps, features = sequence_layout(input_shape, cell)
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        check_number(hidden, "model.hidden", low=1, integer=True)
        check_number(layers, "model.layers", low=1, integer=True)
        check_bool(bidirectional, "model.bidirectional")
        if readout not in READOUTS:
            raise UserError(f"unknown model.readout '{readout}'; choose from: {choices(READOUTS)}")
        check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
        if init not in SCHEMES:
            raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")
        self.readout = readout
        self.directions = 2 if bidirectional else 1
        # PyTorch's own dropout sits between stacked layers only; it warns when there is just one layer
        between = 1 - keep_prob if layers > 1 else 0.0
        self.rnn = CELLS[cell](features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                               dropout=between)
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        width = self.directions * hidden
        self.head = nn.Linear(width * steps if readout == "flatten" else width, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # (B, *input_shape) -> (B, D * H), or (B, T * D * H) read out flat
        seq = as_sequence(x)  # (B, T, F)
        out, state = self.rnn(seq)  # out: (B, T, D * H); state: (layers * D, B, H), or (h, c) for an LSTM
        if self.readout == "last":
            h = state[0] if isinstance(state, tuple) else state
            # the top layer's final states; the backward direction's "final" is its output at t = 0
            h = h[-self.directions:].transpose(0, 1).flatten(1)  # (B, D * H)
        elif self.readout == "mean":
            h = out.mean(dim=1)  # (B, D * H)
        else:
            h = out.flatten(1)  # (B, T * D * H)
        return self.dropout(h)


@register_model("rnn")
def rnn(input_shape, num_classes, hidden=64, layers=1, bidirectional=True, readout="mean", keep_prob=1.0,
        init="auto"):
    """A vanilla (tanh) RNN: a = tanh(W_aa a<t-1> + W_ax x<t> + b)."""
    return RNN(input_shape, num_classes, "rnn", hidden, layers, bidirectional, readout, keep_prob, init)


@register_model("gru")
def gru(input_shape, num_classes, hidden=64, layers=1, bidirectional=True, readout="mean", keep_prob=1.0,
        init="auto"):
    """A GRU: update and reset gates decide how much of the state to keep (Cho et al. 2014)."""
    return RNN(input_shape, num_classes, "gru", hidden, layers, bidirectional, readout, keep_prob, init)


@register_model("lstm")
def lstm(input_shape, num_classes, hidden=64, layers=1, bidirectional=True, readout="mean", keep_prob=1.0,
         init="auto"):
    """An LSTM: forget, update and output gates around a memory cell (Hochreiter & Schmidhuber 1997)."""
    return RNN(input_shape, num_classes, "lstm", hidden, layers, bidirectional, readout, keep_prob, init)


@register_model("gru_paper")
def gru_paper(input_shape, num_classes):
    """The MNIST-1D paper's GRU: bidirectional, hidden 6, all outputs flattened -> Linear.

    On (40,): GRU 2 x 3 x (6 * 1 + 6 * 6 + 2 * 6) = 324 and Linear(40 * 12 -> 10) = 4,810: 5,134 parameters, with
    PyTorch's default initialization as published (Greydanus & Kobak, 2024).
    """
    sequence_layout(input_shape, "gru_paper")  # a shape it cannot take is reported under this model's name
    return RNN(input_shape, num_classes, "gru", hidden=6, layers=1, bidirectional=True, readout="flatten",
               keep_prob=1.0, init="torch")

