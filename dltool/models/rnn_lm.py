"""A recurrent language model (course 5's character-level model of "Dinosaurus Island"): embed each token, recur,
and score the next token at every step: Embedding -> [RNN/GRU/LSTM layer] x layers -> (dropout) -> Linear, per step.

It reads left to right only (one direction): the score at step t may see tokens 0..t and nothing after, or it would
learn to copy the answer. ``forward_features`` is every step's top-layer state (B, T, H) and ``head`` the Linear
that maps each to the vocabulary's scores (B, T, V), so ``forward == head(forward_features)`` as for every Net.
``step`` advances one token at a time from a state, which is how ``dltool sample`` draws (dltool.sample).

Its name sorts beside ``rnn``: the family of models that recur. It serves task=lm only; the vocabulary's size is the
task's number of outputs, and the same number of ids are embedded.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer
from dltool.models.rnn import CELLS


class RNNLM(Net):
    """Args:
        input_shape: (T,): T steps of token ids.
        num_classes: the vocabulary's size: ids embedded, and scores put out a step.
        cell: rnn (tanh), gru or lstm.
        embedding: size of each token's learned vector (the course feeds one-hot vectors: an embedding of the
            vocabulary's size, fixed, would be that).
        hidden: units of each layer's state.
        layers: stacked recurrent layers.
        keep_prob: inverted dropout on the embeddings' and every layer's outputs; 1.0 = off.
        init: the output layer's initialization: auto (Xavier), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, cell="gru", embedding=32, hidden=128, layers=1, keep_prob=1.0,
                 init="auto"):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model rnn_lm takes sequences of token ids, shape (T,); got {tuple(input_shape)}")
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        check_number(embedding, "model.embedding", low=1, integer=True)
        check_number(hidden, "model.hidden", low=1, integer=True)
        check_number(layers, "model.layers", low=1, integer=True)
        check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
        if init not in SCHEMES:
            raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")
        self.embed = nn.Embedding(num_classes, embedding)
        between = 1 - keep_prob if layers > 1 else 0.0  # PyTorch's dropout between stacked layers
        self.rnn = CELLS[cell](embedding, hidden, num_layers=layers, batch_first=True, dropout=between)
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.head = nn.Linear(hidden, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # ids (B, T) -> every step's top-layer state (B, T, H)
        out, _ = self.rnn(self.dropout(self.embed(x.long())))
        return self.dropout(out)

    def step(self, tokens: torch.Tensor, state=None) -> tuple[torch.Tensor, object]:
        """One step for each of B sequences: ``tokens`` (B,) ids -> the next token's scores (B, V) and the new state
        (the recurrent cell's, to pass to the next step; None to start)."""
        out, state = self.rnn(self.dropout(self.embed(tokens.long()[:, None])), state)
        return self.head(self.dropout(out[:, -1])), state


@register_model("rnn_lm", tasks=("lm",))
def rnn_lm(input_shape, num_classes, cell="gru", embedding=32, hidden=128, layers=1, keep_prob=1.0, init="auto"):
    """A character-level language model: a GRU by default (``cell``), its outputs scored at every step."""
    return RNNLM(input_shape, num_classes, cell, embedding, hidden, layers, keep_prob, init)
