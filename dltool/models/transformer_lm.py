"""A Transformer decoder as a language model (task=lm; course 5, week 4; Vaswani et al. 2017, and the decoder-only
form of Radford et al. 2018, GPT): embed each token, add sinusoidal positions, then layers of masked (causal)
multi-head self-attention and a feed-forward net, each with Add & Norm (pre-LN: the norm before each sublayer, which
trains without warm-up), a final layer norm, and the next token's scores at every step.

The causal mask is what makes it a language model: the score at step t attends to tokens 0..t only (the upper
triangle of the attention matrix is -inf), or it would read the answer. No padding mask is needed: sequences are
padded at their end (dltool.data.names), and under the causal mask a real step never sees a pad that comes after it;
pad steps' own outputs are left out of the loss by the task.

``forward_features`` is every step's final-norm output (B, T, d_model), ``head`` the Linear to the vocabulary's scores
(B, T, V), as for model=rnn_lm; ``features`` the decoder layers (``model.freeze=N`` trains the last N and the head).
``step(tokens, state)`` advances one token for ``dltool sample``: its state is the prefix so far, and the decoder
runs over the whole prefix again (names are at most a few dozen characters, so the quadratic cost is small and no
key-value cache is kept).
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import init_layer
from dltool.models.transformer import check_sizes, sinusoidal_encoding
from dltool.models.transformer_seq2seq import MAX_POSITIONS


def causal_mask(steps: int, device=None) -> torch.Tensor:
    """(T, T) bool, True above the diagonal: the positions step t may not attend to (those after it)."""
    return torch.triu(torch.ones(steps, steps, dtype=torch.bool, device=device), diagonal=1)


class TransformerLM(Net):
    """Args:
        input_shape: (T,): T steps of token ids.
        num_classes: the vocabulary's size: ids embedded, and scores put out a step.
        d_model: width of every token's representation.
        heads: attention heads (d_model must be a multiple).
        layers: decoder layers.
        ff_dim: hidden units of each layer's feed-forward net.
        keep_prob: inverted dropout on the embeddings, attention and feed-forward outputs; 1.0 = off.
    """

    def __init__(self, input_shape, num_classes, d_model=64, heads=4, layers=2, ff_dim=128, keep_prob=0.8):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model transformer_lm takes sequences of token ids, shape (T,); got {tuple(input_shape)}")
        check_sizes(d_model, heads, layers, ff_dim, keep_prob)
        dropout = 1 - keep_prob
        self.embed = nn.Embedding(num_classes, d_model)  # N(0, 1): as large as the positions, so not scaled up
        self.register_buffer("positions", sinusoidal_encoding(MAX_POSITIONS, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.features = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout, batch_first=True, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        init_layer(self.head, "xavier", "linear")

    def forward_features(self, x):  # ids (B, T) -> every step's output (B, T, d_model), step t seeing 0..t only
        ids = x.long()
        steps = ids.shape[1]
        if steps > MAX_POSITIONS:
            raise UserError(f"model transformer_lm reads at most {MAX_POSITIONS} steps; got {steps}")
        h = self.dropout(self.embed(ids) + self.positions[:steps])
        mask = causal_mask(steps, ids.device)
        for layer in self.features:
            h = layer(h, src_mask=mask, is_causal=True)
        return self.norm(h)

    def step(self, tokens: torch.Tensor, state=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for each of B sequences: ``tokens`` (B,) ids -> the next token's scores (B, V) and the new state,
        the prefix of ids so far (B, t); None to start. Past MAX_POSITIONS steps the prefix keeps its latest ones."""
        prefix = tokens.long()[:, None] if state is None else torch.cat([state, tokens.long()[:, None]], dim=1)
        prefix = prefix[:, -MAX_POSITIONS:]
        return self.head(self.forward_features(prefix)[:, -1]), prefix


@register_model("transformer_lm", tasks=("lm",))
def transformer_lm(input_shape, num_classes, d_model=64, heads=4, layers=2, ff_dim=128, keep_prob=0.8):
    """A decoder-only Transformer language model: masked self-attention over the tokens so far."""
    return TransformerLM(input_shape, num_classes, d_model, heads, layers, ff_dim, keep_prob)
