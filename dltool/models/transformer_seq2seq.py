"""A Transformer encoder-decoder for translation (task=seq2seq; course 5, week 4; Vaswani et al. 2017): the encoder's
self-attention reads the source, the decoder's masked self-attention the target so far, and its cross-attention the
source, in every layer; pre-LN (a layer norm before each sublayer) trains without warm-up.

The same interface as model=attention_rnn, which task=seq2seq and dltool translate use: ``forward(x, y_in)`` (teacher
forcing; without ``y_in`` one step from ``<s>``), ``forward_features`` the decoder's outputs (B, Ty, d_model),
``encode(x)`` and ``step(tokens, state) -> (scores, state, attention)``; a step runs the decoder over the whole
prefix again (the steps are few: an ISO date is 11 tokens) and its attention is the last layer's cross-attention of
the newest position, averaged over the heads. Tokens are embedded and sinusoidal positions added. The embedding is
not multiplied by sqrt(d_model) (Vaswani et al.'s section 3.4): PyTorch's starts at N(0, 1), and times 8 it drowned
the positions (measured on the dates: 40 epochs left 32% of dev dates wrong, many with two digits swapped, "2013" ->
"2031"). Padding in the source is masked out of every attention.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.data.names import PAD, START
from dltool.errors import UserError
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import init_layer
from dltool.models.transformer import check_sizes, sinusoidal_encoding

MAX_POSITIONS = 512


class DecoderLayer(nn.Module):
    """Pre-LN: x + self-attention (causal), + cross-attention on the memory (its weights kept), + feed-forward."""

    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.self_attention = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, y, memory, memory_pad):
        causal = torch.triu(torch.ones(y.shape[1], y.shape[1], dtype=torch.bool, device=y.device), diagonal=1)
        h = self.norms[0](y)
        y = y + self.dropout(self.self_attention(h, h, h, attn_mask=causal, need_weights=False)[0])
        h = self.norms[1](y)
        out, weights = self.cross_attention(h, memory, memory, key_padding_mask=memory_pad, need_weights=True)
        y = y + self.dropout(out)
        return y + self.dropout(self.ff(self.norms[2](y))), weights


class TransformerSeq2Seq(Net):
    """Args:
        input_shape: (Tx,): source token ids.
        num_classes: ids in the shared vocabulary: embedded on both sides, and scored at each decoder step.
        d_model: width of every token's representation.
        heads: attention heads (d_model must be a multiple).
        layers: encoder layers and decoder layers (as many of each).
        ff_dim: hidden units of each layer's feed-forward net.
        keep_prob: inverted dropout on the embeddings, attention and feed-forward outputs; 1.0 = off.
    """

    def __init__(self, input_shape, num_classes, d_model=64, heads=4, layers=2, ff_dim=128, keep_prob=1.0):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model transformer_seq2seq takes sequences of token ids, shape (T,); got "
                            f"{tuple(input_shape)}")
        check_sizes(d_model, heads, layers, ff_dim, keep_prob)
        dropout = 1 - keep_prob
        self.d_model = d_model
        self.embed = nn.Embedding(num_classes, d_model)  # N(0, 1): as large as the positions, so not scaled up
        self.register_buffer("positions", sinusoidal_encoding(MAX_POSITIONS, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, ff_dim, dropout) for _ in range(layers))
        self.decoder_norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)
        init_layer(self.head, "xavier", "linear")

    def tokens(self, ids):  # (B, T) ids -> embedded with positions (B, T, d_model)
        ids = ids.long()
        return self.dropout(self.embed(ids) + self.positions[:ids.shape[1]])

    def encode(self, x: torch.Tensor) -> tuple:
        """The decoding state for sources ``x`` (B, Tx): (memory, padding mask, the target so far), batch-first."""
        pad = x.long() == PAD
        pad = pad & (torch.arange(x.shape[1], device=x.device) > 0)  # an empty source keeps its first step
        memory = self.encoder_norm(self.encoder(self.tokens(x), src_key_padding_mask=pad))
        return memory, pad, torch.zeros((len(x), 0), dtype=torch.long, device=x.device)

    def decode(self, y_in, memory, pad) -> tuple[torch.Tensor, torch.Tensor]:
        y, weights = self.tokens(y_in), None
        for layer in self.decoder:
            y, weights = layer(y, memory, pad)
        return self.decoder_norm(y), weights

    def step(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple, torch.Tensor]:
        """Scores of the next token (B, V) after ``tokens`` (B,), the new state and the attention weights (B, Tx)."""
        memory, pad, prefix = state
        prefix = torch.cat([prefix, tokens.long().to(prefix.device)[:, None]], dim=1)
        y, weights = self.decode(prefix, memory, pad)
        return self.head(y[:, -1]), (memory, pad, prefix), weights[:, -1]

    def forward_features(self, x, y_in=None):  # (B, Tx), (B, Ty) -> the decoder's outputs (B, Ty, d_model)
        if y_in is None:
            y_in = torch.full((len(x), 1), START, dtype=torch.long, device=x.device)
        memory, pad, _ = self.encode(x)
        return self.decode(y_in, memory, pad)[0]

    def forward(self, x, y_in=None):
        return self.head(self.forward_features(x, y_in))


@register_model("transformer_seq2seq", tasks=("seq2seq",))
def transformer_seq2seq(input_shape, num_classes, d_model=64, heads=4, layers=2, ff_dim=128, keep_prob=1.0):
    """A pre-LN Transformer encoder-decoder for translation."""
    return TransformerSeq2Seq(input_shape, num_classes, d_model, heads, layers, ff_dim, keep_prob)
