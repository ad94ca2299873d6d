"""A recurrent tagger for named-entity recognition (course 5: a bidirectional RNN, so that the tag of "Teddy" may
depend on the words after it, "Roosevelt" or "bears"): each word's embedding beside the embedding of its shape
(dltool.data.entities: Xx, X, x, d, ...) -> [bidirectional] GRU or LSTM x layers -> (dropout) -> Linear, a score a
tag at every word.

Inputs (B, T, 2): channel 0 the word ids (0 = ``<pad>``, 1 = ``<unk>``; task=tag maps the data's ids to its
vocabulary's), channel 1 the shape ids. Padding is packed away: each direction reads a sentence's real words only,
so a sentence scores the same however much padding it has. ``forward_features`` is every word's top-layer state
(B, T, H or 2H) and ``head`` the Linear that maps each to the tags' scores, ``forward == head(forward_features)``.
The embedding has ``words`` rows (the most words a vocabulary may hold; task=tag says when its vocabulary holds
more); ``bidirectional=false`` reads left to right only, to show what the words after a name are worth.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.data.entities import SHAPES
from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class BRNNTagger(Net):
    """Args:
        input_shape: (T, 2): T words, each a word id and a shape id.
        num_classes: the tags: scores put out a word.
        cell: gru or lstm.
        bidirectional: read each sentence both ways (a BRNN: the state of word t holds the words after it too).
        words: rows of the word embedding (the largest vocabulary it serves).
        embedding: size of each word's learned vector; shape_embedding: of each shape's.
        hidden: units of each layer's state, a direction.
        layers: stacked recurrent layers.
        keep_prob: inverted dropout on the embeddings and the top layer's states; 1.0 = off.
        init: the output layer's initialization: auto (Xavier), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, cell="gru", bidirectional=True, words=8000, embedding=64,
                 shape_embedding=8, hidden=64, layers=1, keep_prob=1.0, init="auto"):
        super().__init__()
        if len(input_shape) != 2 or input_shape[1] != 2:
            raise UserError(f"model brnn_tagger takes sentences of word and shape ids, shape (T, 2); got "
                            f"{tuple(input_shape)}")
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        check_bool(bidirectional, "model.bidirectional")
        for value, key in ((words, "words"), (embedding, "embedding"), (shape_embedding, "shape_embedding"),
                           (hidden, "hidden"), (layers, "layers")):
            check_number(value, f"model.{key}", low=1 if key != "words" else 2, integer=True)
        check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
        if init not in SCHEMES:
            raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")
        self.words = words
        self.embed = nn.Embedding(words, embedding)
        self.shape_embed = nn.Embedding(len(SHAPES), shape_embedding)
        between = 1 - keep_prob if layers > 1 else 0.0
        self.rnn = CELLS[cell](embedding + shape_embedding, hidden, num_layers=layers, batch_first=True,
                               dropout=between, bidirectional=bool(bidirectional))
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # (B, T, 2) ids -> every word's top-layer state (B, T, H or 2H)
        x = x.long()
        z = self.dropout(torch.cat([self.embed(x[..., 0]), self.shape_embed(x[..., 1])], dim=-1))
        lengths = (x[..., 0] != 0).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(z, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.dropout(out)


@register_model("brnn_tagger", tasks=("tag",))
def brnn_tagger(input_shape, num_classes, cell="gru", bidirectional=True, words=8000, embedding=64,
                shape_embedding=8, hidden=64, layers=1, keep_prob=1.0, init="auto"):
    """A bidirectional GRU tagger of words and their shapes, a score a tag a word (``bidirectional`` false: one way)."""
    return BRNNTagger(input_shape, num_classes, cell, bidirectional, words, embedding, shape_embedding, hidden,
                      layers, keep_prob, init)
