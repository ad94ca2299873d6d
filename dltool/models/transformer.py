"""A Transformer encoder for classification (course 5): every time step attends to every other one.

Examples become sequences as for the RNNs (``dltool.models.rnn.as_sequence``): (L,) is L steps of one feature, (C, L)
is L steps of C features, an image (C, H, W) is H steps (rows) of C * W features. ``patch`` > 1 makes each token
``patch`` consecutive steps (ViT's patches in 1-D): a token of one scalar carries little for attention to compare.

There is no padding mask: every data set here has examples of one fixed length, and the classifier calls ``net(x)``.
A task with padded sequences will bring their lengths with it; the mask (attention's ``src_key_padding_mask``, and a
mean over the real steps only) belongs with that task, not here unused.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import init_layer
from dltool.models.rnn import as_sequence, sequence_layout

POOLINGS = ("cls", "mean")


def check_sizes(d_model, heads, layers, ff_dim, keep_prob) -> None:
    """The checks every Transformer here needs (encoder, decoder, encoder-decoder): whole positive sizes, a width the
    heads divide, a keep probability in (0, 1]."""
    for value, key in ((d_model, "d_model"), (heads, "heads"), (layers, "layers"), (ff_dim, "ff_dim")):
        check_number(value, f"model.{key}", low=1, integer=True)
    if d_model % heads:
        raise UserError(f"model.d_model ({d_model}) must be a multiple of model.heads ({heads})")
    check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)


def sinusoidal_encoding(length: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s positional encoding, (length, d_model):

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)),  PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)).

    Each dimension pair is a sinusoid of its own wavelength, so a fixed offset is a linear map of the encoding and
    attention can learn relative positions; nothing is learned, so it needs no data.
    """
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))  # (ceil(d/2),)
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])  # an odd d_model has one cosine fewer
    return pe


@register_model("transformer")
class Transformer(Net):
    """Linear embedding + sinusoidal positions -> [self-attention, feed-forward] x layers -> pooling -> Linear.

    Each layer is nn.TransformerEncoderLayer: multi-head self-attention and a two-layer feed-forward net, each wrapped
    in a residual connection and a layer norm.

    Args:
        input_shape: (L,), (C, L) or (C, H, W); see ``dltool.models.rnn.sequence_layout``.
        num_classes: number of output units.
        d_model: width of every time step's representation.
        heads: attention heads; d_model must divide by it (each head works in d_model / heads dimensions).
        layers: encoder layers.
        ff_dim: hidden units of each layer's feed-forward net.
        pooling: cls (a learned class token is prepended and its output classifies) or mean (outputs averaged over
            the tokens).
        keep_prob: inverted dropout on the embeddings, attention weights and feed-forward outputs; 1.0 = off.
        norm_first: layer norm before each sublayer (pre-LN, stable without learning-rate warm-up) rather than after
            the residual sum (the original post-LN).
        patch: time steps per token, at most all of them; a last token that the steps do not fill is zero-padded.
    """

    def __init__(self, input_shape, num_classes, d_model=32, heads=4, layers=2, ff_dim=64, pooling="mean",
                 keep_prob=1.0, norm_first=True, patch=4):
        super().__init__()
        steps, features = sequence_layout(input_shape, "transformer")
        patch = self.patch = min(check_number(patch, "model.patch", low=1, integer=True), steps)
        check_sizes(d_model, heads, layers, ff_dim, keep_prob)
        if pooling not in POOLINGS:
            raise UserError(f"unknown model.pooling '{pooling}'; choose from: {choices(POOLINGS)}")
        check_bool(norm_first, "model.norm_first")
        self.pooling = pooling
        self.embed = nn.Linear(patch * features, d_model)  # each token's features -> d_model
        init_layer(self.embed, "xavier", "linear")
        tokens = -(-steps // patch)
        self.register_buffer("positions", sinusoidal_encoding(tokens, d_model), persistent=False)  # (T, d_model)
        # the class token is learned, so it needs no position of its own
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" else None
        self.dropout = nn.Dropout(p=1 - keep_prob)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff_dim, dropout=1 - keep_prob, batch_first=True,
                                           norm_first=norm_first)
        # pre-LN leaves the residual stream unnormalized: one last layer norm before the head
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)
        init_layer(self.head, "xavier", "linear")

    def forward_features(self, x):  # (B, *input_shape) -> (B, d_model): the class token's or the mean output
        seq = as_sequence(x)  # (B, T, F)
        b, t, f = seq.shape
        if self.patch > 1:  # (B, T, F) -> (B, ceil(T / patch), patch * F)
            seq = F.pad(seq, (0, 0, 0, -t % self.patch)).reshape(b, -1, self.patch * f)
            t = seq.shape[1]
        h = self.embed(seq) + self.positions[:t]  # (B, T, d)
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.expand(b, 1, -1), h], dim=1)  # (B, 1 + T, d)
        h = self.encoder(self.dropout(h))  # (B, T', d)
        z = h[:, 0] if self.cls_token is not None else h.mean(dim=1)  # (B, d)
        return z
