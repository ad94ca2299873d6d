"""Inception (Szegedy et al. 2014, GoogLeNet): the block of parallel 1x1 / 3x3 / 5x5 / pool branches and a small net
of two such blocks.

The block and the net take 1-D, 2-D or 3-D inputs alike; the shared conv pieces are in ``dltool.models.layers``.
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import check_number
from dltool.models import register_model
from dltool.models.layers import MAX_POOL, ConvBN, GAPNet, check_common, conv_layout, scale_width


class Inception(nn.Module):
    """GoogLeNet's block: parallel 1x1 / 1x1->3x3 / 1x1->5x5 / 3x3 max-pool->1x1 branches, concatenated by channel.

    The 1x1 reductions shrink the channels before the expensive 3x3 and 5x5 convolutions; every branch keeps the size
    ('same' padding, stride 1), so the outputs stack. Output channels = c1 + c3 + c5 + pool_proj.
    """

    def __init__(self, dims, c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, init="auto"):
        super().__init__()
        self.branch1 = ConvBN(dims, c_in, c1, 1, init=init)
        self.branch3 = nn.Sequential(ConvBN(dims, c_in, c3_reduce, 1, init=init),
                                     ConvBN(dims, c3_reduce, c3, 3, init=init))
        self.branch5 = nn.Sequential(ConvBN(dims, c_in, c5_reduce, 1, init=init),
                                     ConvBN(dims, c5_reduce, c5, 5, init=init))
        self.branch_pool = nn.Sequential(MAX_POOL[dims](3, stride=1, padding=1),
                                         ConvBN(dims, c_in, pool_proj, 1, init=init))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x):  # (B, C_in, *S) -> (B, c1 + c3 + c5 + pool_proj, *S)
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


@register_model("inception")
class InceptionNet(GAPNet):
    """A small Inception net: conv3 stem -> inception -> 3x3 max pool, stride 2 -> inception -> GAP -> linear.

    Branch widths follow GoogLeNet's proportions (inception 3a/3b divided by 8: 1x1 gets about a quarter, 3x3 half,
    5x5 and pool an eighth each).

    Args:
        width: multiplies every channel count.
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
    """

    STEM = 24
    BLOCKS = ((8, 12, 16, 2, 4, 4),     # (c1, c3_reduce, c3, c5_reduce, c5, pool_proj): 32 channels out
              (16, 16, 24, 4, 12, 8))   # 60 channels out

    def __init__(self, input_shape, num_classes, width=1.0, keep_prob=1.0, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "inception")
        self.conv_shape = (c_in, *sizes)
        check_number(width, "model.width", low=0, low_open=True)
        check_common(keep_prob, init)
        stem = scale_width(self.STEM, width)
        block1 = Inception(dims, stem, *(scale_width(c, width) for c in self.BLOCKS[0]), init=init)
        block2 = Inception(dims, block1.out_channels, *(scale_width(c, width) for c in self.BLOCKS[1]), init=init)
        layers = [ConvBN(dims, c_in, stem, 3, init=init), block1, MAX_POOL[dims](3, stride=2, padding=1), block2]
        self._finish(dims, layers, block2.out_channels, num_classes, keep_prob, init)
