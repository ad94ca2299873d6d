"""The course's attention model for translation (course 5, week 3, after Bahdanau et al. 2015): a bidirectional
recurrent encoder reads the source; a recurrent decoder writes the target one token at a time, and before each step
it looks back at the whole source through attention.

Encoder: Embedding -> bidirectional LSTM (or GRU) of ``encoder`` units a direction: a^<t'> = [a_fwd; a_bwd] for
every source step t' (padding is packed away: the states are those of the real characters only). Decoder, at step t
with state s^<t-1>: the energies e^<t,t'> = v . tanh(W [s^<t-1>; a^<t'>]) come from a small dense network (the
course's Dense(10, tanh) then Dense(1)), alpha^<t,t'> = softmax over t' of e^<t,t'> (padding steps get none), the
context c^<t> = sum_t' alpha^<t,t'> a^<t'>, and the decoder cell (LSTMCell or GRUCell of ``decoder`` units, from
zeros) takes [c^<t>; embedding of y^<t-1>] to s^<t> (the course's post-attention LSTM, fed the previous token as
well: teacher forcing in training). ``head``, a Linear, scores every token from s^<t>.

Inputs: ``forward(x, y_in)`` with ``x`` the source ids (B, Tx) and ``y_in`` the decoder's inputs (B, Ty): ``<s>``
then the target but its last token; ``forward_features`` is every step's s^<t> (B, Ty, H), so ``forward ==
head(forward_features)`` as for every Net. Without ``y_in`` the decoder takes one step from ``<s>``. Decoding one
token at a time: ``encode(x)`` then ``step(tokens, state)`` (dltool.decode), which returns the attention weights too
(dltool translate draws them). The ids are the data's (dltool.data.dates): ``<pad>`` = 0, ``<s>`` = 1; source and
target share one id space, ``num_classes`` ids.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.data.names import PAD, START
from dltool.errors import UserError, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer

CELLS = {"lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell)}


class AttentionRNN(Net):
    """Args:
        input_shape: (Tx,): source token ids.
        num_classes: ids in the shared vocabulary: embedded on both sides, and scored at each decoder step.
        cell: lstm or gru, of the encoder and the decoder alike.
        embedding: size of each token's learned vector (the course feeds one-hot vectors).
        encoder: units of each direction of the encoder (the course's n_a = 32).
        decoder: units of the decoder's state (the course's n_s = 64).
        attention: units of the dense layer that scores each source step (the course's 10).
        keep_prob: inverted dropout on the embeddings and the decoder's states; 1.0 = off.
        init: the output layer's initialization: auto (Xavier), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, cell="lstm", embedding=32, encoder=32, decoder=64, attention=10,
                 keep_prob=1.0, init="auto"):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model attention_rnn takes sequences of token ids, shape (T,); got {tuple(input_shape)}")
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        for value, key in ((embedding, "embedding"), (encoder, "encoder"), (decoder, "decoder"),
                           (attention, "attention")):
            check_number(value, f"model.{key}", low=1, integer=True)
        check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
        if init not in SCHEMES:
            raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")
        recurrent, cell_type = CELLS[cell]
        self.lstm = cell == "lstm"
        self.embed = nn.Embedding(num_classes, embedding)
        self.encoder = recurrent(embedding, encoder, batch_first=True, bidirectional=True)
        self.keys = nn.Linear(2 * encoder, attention)  # W's part on a^<t'>: computed once a source
        self.query = nn.Linear(decoder, attention, bias=False)  # W's part on s^<t-1>
        self.energy = nn.Linear(attention, 1)
        self.cell = cell_type(2 * encoder + embedding, decoder)
        self.decoder_units = decoder
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.head = nn.Linear(decoder, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def encode(self, x: torch.Tensor) -> tuple:
        """The decoder's starting state for sources ``x`` (B, Tx): (a, keys, mask, s, c), all batch-first."""
        x = x.long()
        mask = x != PAD
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(self.embed(x)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        a, _ = self.encoder(packed)
        a, _ = nn.utils.rnn.pad_packed_sequence(a, batch_first=True, total_length=x.shape[1])
        mask = mask | (torch.arange(x.shape[1], device=x.device) == 0)  # an empty source attends to its first pad
        s = a.new_zeros(a.shape[0], self.decoder_units)  # shape[0], not len(): a traced export keeps it dynamic
        return a, self.keys(a), mask, s, torch.zeros_like(s)

    def attend(self, state: tuple, tokens: torch.Tensor) -> tuple[torch.Tensor, tuple, torch.Tensor]:
        """One decoder step: s^<t> (B, H), the new state and the attention weights alpha^<t, .> (B, Tx)."""
        a, keys, mask, s, c = state
        e = self.energy(torch.tanh(keys + self.query(s)[:, None])).squeeze(2)
        weights = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
        context = torch.bmm(weights[:, None].to(a.dtype), a)[:, 0]
        inputs = torch.cat([context, self.dropout(self.embed(tokens.long()))], dim=1)
        if self.lstm:
            s, c = self.cell(inputs, (s, c))
        else:
            s = self.cell(inputs, s)
        return s, (a, keys, mask, s, c), weights

    def step(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple, torch.Tensor]:
        """Scores of the next token (B, V) after ``tokens`` (B,), the new state and the attention weights."""
        s, state, weights = self.attend(state, tokens)
        return self.head(self.dropout(s)), state, weights

    def forward_features(self, x, y_in=None):  # (B, Tx), (B, Ty) -> every decoder step's state (B, Ty, H)
        if y_in is None:
            y_in = torch.full((len(x), 1), START, dtype=torch.long, device=x.device)
        state, out = self.encode(x), []
        for t in range(y_in.shape[1]):
            s, state, _ = self.attend(state, y_in[:, t])
            out.append(s)
        return self.dropout(torch.stack(out, dim=1))

    def forward(self, x, y_in=None):
        return self.head(self.forward_features(x, y_in))


@register_model("attention_rnn", tasks=("seq2seq",))
def attention_rnn(input_shape, num_classes, cell="lstm", embedding=32, encoder=32, decoder=64, attention=10,
                  keep_prob=1.0, init="auto"):
    """The course's attention model: a bidirectional encoder, attention, a recurrent decoder."""
    return AttentionRNN(input_shape, num_classes, cell, embedding, encoder, decoder, attention, keep_prob, init)
