"""The contract every registered net keeps: a body that makes features, and a replaceable head that reads them.

``forward(x) == head(forward_features(x))``. ``forward_features(x)`` is what the head reads: a vector per example for
a classifier (the MLP's last hidden layer, a conv net's pooled or flattened maps, a recurrent net's readout, a
Transformer's class token), a map per image for a segmenter (the U-Net's last decoder level). This is the seam of
timm's ``forward_features`` / ``reset_classifier``: transfer learning keeps the body and builds a new head
(dltool.transfer), and a net trained on one task serves another one's features (a siamese verifier compares two
examples' ``forward_features``; a detector or segmenter puts its own head on a backbone).
"""

from __future__ import annotations

from torch import nn

from dltool.models.init import init_layer


class Net(nn.Module):
    """A registered net: subclasses build ``head`` (a module whose last layer is a Linear or a 1x1 convolution) and
    implement ``forward_features``."""

    head: nn.Module

    def forward_features(self, x):  # (B, *input_shape) -> what the head reads
        raise NotImplementedError

    def forward(self, x):  # (B, *input_shape) -> the task's outputs
        return self.head(self.forward_features(x))

    def reset_head(self, num_outputs: int) -> "Net":
        """Give the head's last layer ``num_outputs`` outputs, freshly initialized (Xavier, zero bias); the layers
        before it in the head (a conv net's hidden dense layers) and the whole body keep their weights."""
        last = self.head[-1] if isinstance(self.head, nn.Sequential) else self.head
        if isinstance(last, nn.Linear):
            new = nn.Linear(last.in_features, num_outputs, bias=last.bias is not None)
        else:  # a 1x1 convolution: one score a class a pixel
            new = type(last)(last.in_channels, num_outputs, kernel_size=last.kernel_size, bias=last.bias is not None)
        init_layer(new, "xavier", "linear")
        new = new.to(device=last.weight.device, dtype=last.weight.dtype)
        if isinstance(self.head, nn.Sequential):
            self.head[-1] = new
        else:
            self.head = new
        return self
