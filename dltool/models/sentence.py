"""Sentence classifiers over word ids (course 5, week 2's Emojify), the two the course builds:

- ``word_average`` (Emojify-V1): the mean of the sentence's word vectors -> (dropout) -> Linear, a softmax a class.
  Word order is lost; what a word means is all it has, so it lives on its embedding.
- ``word_lstm`` (Emojify-V2): the word vectors -> LSTM (or GRU) x layers -> the top layer's state after the last
  word -> (dropout) -> Linear: "not good" is not "good".

Inputs (B, T) word ids, ``<pad>`` = 0 after a sentence's end (dltool.data.polarity); padding counts for nothing: the
average is over the real words, and the recurrent layers read the real words only (packed), so a sentence scores
the same however much padding follows it. The embedding ``embed`` has ``words`` rows (the largest vocabulary it
serves; the task says when the data's holds more) of ``embedding`` numbers: ``model.init_from`` of a task=embed run
fills the rows of the words it knows with its vectors (``embedding`` = its ``model.dim``), and ``model.freeze=
embedding`` keeps them as they are (dltool.transfer).
"""

from __future__ import annotations

from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def check_ids(input_shape, model: str) -> None:
    if len(input_shape) != 1:
        raise UserError(f"model {model} takes sentences of word ids, shape (T,), e.g. data=polarity; got "
                        f"{tuple(input_shape)}")


def check_common(words, embedding, keep_prob, init) -> None:
    check_number(words, "model.words", low=2, integer=True)
    check_number(embedding, "model.embedding", low=1, integer=True)
    check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
    if init not in SCHEMES:
        raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")


class WordAverage(Net):
    """Args:
        input_shape: (T,) word ids.
        num_classes: the classes: scores put out a sentence.
        words: rows of the word embedding; embedding: numbers a word vector.
        keep_prob: inverted dropout on the averaged vector; 1.0 = off.
        init: the output layer's initialization: auto (Xavier), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, words=4000, embedding=100, keep_prob=1.0, init="auto"):
        super().__init__()
        check_ids(input_shape, "word_average")
        check_common(words, embedding, keep_prob, init)
        self.words = words
        self.embed = nn.Embedding(words, embedding)
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.head = nn.Linear(embedding, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # (B, T) ids -> (B, embedding): the mean vector of each sentence's real words
        x = x.long()
        real = (x != 0).unsqueeze(-1).to(self.embed.weight.dtype)  # (B, T, 1)
        total = (self.embed(x) * real).sum(dim=1)
        return self.dropout(total / real.sum(dim=1).clamp(min=1))


class WordRNN(Net):
    """Args:
        input_shape: (T,) word ids.
        num_classes: the classes.
        cell: lstm or gru.
        words, embedding: the word embedding's rows and size.
        hidden: units of each layer's state (a direction); layers: stacked recurrent layers.
        bidirectional: read each sentence both ways too (the backward direction's state at the first word).
        keep_prob: inverted dropout on the word vectors, between stacked layers and before the head; 1.0 = off.
        init: the output layer's initialization.
    """

    def __init__(self, input_shape, num_classes, cell="lstm", words=4000, embedding=100, hidden=128, layers=2,
                 bidirectional=False, keep_prob=0.5, init="auto"):
        super().__init__()
        check_ids(input_shape, "word_lstm")
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        check_common(words, embedding, keep_prob, init)
        check_number(hidden, "model.hidden", low=1, integer=True)
        check_number(layers, "model.layers", low=1, integer=True)
        check_bool(bidirectional, "model.bidirectional")
        self.words = words
        self.directions = 2 if bidirectional else 1
        self.embed = nn.Embedding(words, embedding)
        self.rnn = CELLS[cell](embedding, hidden, num_layers=layers, batch_first=True, bidirectional=bool(bidirectional),
                               dropout=1 - keep_prob if layers > 1 else 0.0)
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.head = nn.Linear(hidden * self.directions, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # (B, T) ids -> (B, D * H): the top layer's state after each sentence's last word
        x = x.long()
        lengths = (x != 0).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(self.embed(x)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # (layers * D, B, H): an LSTM's h, not its cell c
        return self.dropout(h[-self.directions:].transpose(0, 1).flatten(1))


@register_model("word_average", tasks=("classify",))
def word_average(input_shape, num_classes, words=4000, embedding=100, keep_prob=1.0, init="auto"):
    """Emojify-V1: the average of a sentence's word vectors into a softmax."""
    return WordAverage(input_shape, num_classes, words, embedding, keep_prob, init)


@register_model("word_lstm", tasks=("classify",))
def word_lstm(input_shape, num_classes, cell="lstm", words=4000, embedding=100, hidden=128, layers=2,
              bidirectional=False, keep_prob=0.5, init="auto"):
    """Emojify-V2: word vectors into stacked LSTM (or GRU) layers, the last state into a softmax (dropout 0.5 between
    them, as the course has it)."""
    return WordRNN(input_shape, num_classes, cell, words, embedding, hidden, layers, bidirectional, keep_prob, init)
