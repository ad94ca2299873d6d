"""A conv-recurrent recognizer for CTC (task=ctc; course 5's speech recognition, on digit strings): a 1-D conv front
end whose strides shorten the frames, a bidirectional GRU or LSTM over the shortened frames, and a Linear head that
scores blank + every class at every frame:
[Conv1d(k, stride s) -> BatchNorm -> ReLU] x len(channels) -> [GRU/LSTM, both directions] x layers -> Linear.

``forward_features`` is every frame's top-layer state (B, T', 2H), T' = L / prod(strides) (rounded as the
convolutions round), and ``head`` the Linear that maps each to the scores (B, T', K), so
``forward == head(forward_features)`` as for every Net. Inputs (B, L) (one feature a frame) or (B, C, L).
"""

from __future__ import annotations

from torch import nn

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import SCHEMES, init_layer

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def as_list(value, name: str) -> list[int]:
    """An int or a list of ints (each >= 1), as a list."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return [check_number(v, name, low=1, integer=True) for v in values]


class CTCRNN(Net):
    """Args:
        input_shape: (L,) frames of one feature, or (C, L).
        num_classes: scores a frame (task=ctc: blank + the classes).
        channels: output channels of each conv layer ([] = no front end: the GRU reads the frames as they are).
        kernel_size: of every conv layer (odd; padded to keep the frames, then strided).
        strides: each conv layer's stride (an int for all): frames are shortened by their product.
        cell: gru or lstm.
        hidden: units of each direction's state.
        layers: stacked recurrent layers.
        bidirectional: also read from the end (CTC); false: left to right only, each frame's score from the frames
            up to it (task=trigger: a detector that can run on a stream, as the course's).
        keep_prob: inverted dropout on the front end's and every recurrent layer's outputs; 1.0 = off.
        init: the head's initialization: auto (Xavier), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(32, 64), kernel_size=5, strides=(4, 2), cell="gru",
                 hidden=64, layers=1, bidirectional=True, keep_prob=1.0, init="auto"):
        super().__init__()
        if len(input_shape) not in (1, 2):
            raise UserError(f"model ctc_rnn takes signals of shape (L,) or (C, L); got {tuple(input_shape)}")
        channels = [] if channels is None else as_list(channels, "model.channels")
        check_number(kernel_size, "model.kernel_size", low=1, integer=True)
        if kernel_size % 2 == 0:
            raise UserError(f"model.kernel_size must be odd (padded by half on each side), got {kernel_size}")
        strides = as_list(strides, "model.strides")
        if len(strides) == 1:
            strides = strides * len(channels)
        if len(strides) != len(channels):
            raise UserError(f"model.strides gives {len(strides)} strides for {len(channels)} conv layers "
                            f"(model.channels): give one stride a layer, or one for all")
        if cell not in CELLS:
            raise UserError(f"unknown model.cell '{cell}'; choose from: {choices(CELLS)}")
        check_number(hidden, "model.hidden", low=1, integer=True)
        check_number(layers, "model.layers", low=1, integer=True)
        check_bool(bidirectional, "model.bidirectional")
        check_number(keep_prob, "model.keep_prob", low=0, high=1, low_open=True)
        if init not in SCHEMES:
            raise UserError(f"unknown init '{init}'; choose from: {choices(SCHEMES)}")
        frames = input_shape[-1]
        blocks, width = [], 1 if len(input_shape) == 1 else input_shape[0]
        for c, s in zip(channels, strides):
            blocks += [nn.Conv1d(width, c, kernel_size, stride=s, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm1d(c), nn.ReLU()]
            width, frames = c, (frames + 2 * (kernel_size // 2) - kernel_size) // s + 1
        if frames < 1:
            raise UserError(f"model ctc_rnn: strides {strides} leave no frame of the {input_shape[-1]}")
        self.frames = frames
        self.front = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(p=1 - keep_prob) if keep_prob < 1 else nn.Identity()
        self.rnn = CELLS[cell](width, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                               dropout=1 - keep_prob if layers > 1 else 0.0)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden, num_classes)
        init_layer(self.head, "xavier" if init == "auto" else init, "linear")

    def forward_features(self, x):  # (B, L) or (B, C, L) -> (B, T', 2H)
        z = self.front(x.unsqueeze(1) if x.dim() == 2 else x)  # (B, C', T')
        out, _ = self.rnn(self.dropout(z.transpose(1, 2)))  # (B, T', 2H)
        return self.dropout(out)


@register_model("ctc_rnn", tasks=("ctc", "trigger"))
def ctc_rnn(input_shape, num_classes, channels=(32, 64), kernel_size=5, strides=(4, 2), cell="gru", hidden=64,
            layers=1, bidirectional=True, keep_prob=1.0, init="auto"):
    """Conv front end (strided) -> (bidirectional) GRU/LSTM -> a score a class (and blank) a frame."""
    return CTCRNN(input_shape, num_classes, channels, kernel_size, strides, cell, hidden, layers, bidirectional,
                  keep_prob, init)
