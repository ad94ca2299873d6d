"""U-Net (Ronneberger et al. 2015; course 4's semantic segmentation): a contracting path that halves the image and
doubles the channels, an expanding path of transpose convolutions back to the input's size, and skip connections
that concatenate each contracting level's features onto the expanding path at the same size, so that the fine
detail lost by pooling comes back for the per-pixel labels. The head is a 1x1 convolution: one score a class a pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_bool, check_number
from dltool.models import register_model
from dltool.models.base import Net
from dltool.models.init import init_layer
from dltool.models.layers import ConvBN, check_common


class DoubleConv(nn.Sequential):
    """Two 3x3 'same' convolutions, each with batch norm and ReLU: U-Net's block at every level."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool, init: str):
        super().__init__(ConvBN(2, c_in, c_out, 3, batch_norm=batch_norm, init=init),
                         ConvBN(2, c_out, c_out, 3, batch_norm=batch_norm, init=init))


@register_model("unet", tasks=("segment",))
class UNet(Net):
    """[DoubleConv -> 2x2 max pool] per level down, DoubleConv at the bottom, [transpose conv x2 -> concat the skip ->
    DoubleConv] per level up, 1x1 conv to the classes.

    Args:
        input_shape: (C, H, W); H and W must divide by 2 ** (levels - 1).
        num_classes: classes a pixel (background included).
        channels: channels of each level, top to bottom, e.g. [16, 32, 64, 128] (4 levels: 3 poolings).
        batch_norm: batch norm in every convolution.
        init: auto (He), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(16, 32, 64, 128), batch_norm=True, init="auto"):
        super().__init__()
        if len(input_shape) != 3:
            raise UserError(f"model unet takes images of shape (C, H, W), e.g. data=canvas; got {tuple(input_shape)}")
        if not isinstance(channels, (list, tuple)) or len(channels) < 2:
            raise UserError(f"model.channels must list the channels of at least 2 levels, e.g. [16,32,64], "
                            f"got {channels!r}")
        for c in channels:
            check_number(c, "model.channels (each level)", low=1, integer=True)
        check_bool(batch_norm, "model.batch_norm")
        check_common(1.0, init)
        c_in, h, w = input_shape
        step = 2 ** (len(channels) - 1)
        if h % step or w % step:
            raise UserError(f"model unet with {len(channels)} levels halves the image {len(channels) - 1} times: "
                            f"its height and width must divide by {step}, got {h} x {w}")
        self.down = nn.ModuleList()
        for c in channels:
            self.down.append(DoubleConv(c_in, c, batch_norm, init))
            c_in = c
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c_skip in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(c_in, c_skip, kernel_size=2, stride=2))  # doubles H and W
            self.merge.append(DoubleConv(2 * c_skip, c_skip, batch_norm, init))  # the skip and the upsampled, stacked
            c_in = c_skip
        self.head = nn.Conv2d(c_in, num_classes, kernel_size=1)
        init_layer(self.head, "xavier" if init != "torch" else "torch", "linear")

    def forward_features(self, x):  # (B, C, H, W) -> (B, channels[0], H, W): the top decoder level
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))  # (B, c_i, H / 2^i, W / 2^i)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = merge(torch.cat([skip, up(x)], dim=1))  # (B, c_skip, size of the skip)
        return x
