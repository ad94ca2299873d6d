"""Residual networks (He et al. 2015): the basic residual block and a small ResNet built from stages of them.

The blocks and the net take 1-D, 2-D or 3-D inputs alike; the shared conv pieces are in ``dltool.models.layers``.
"""

from __future__ import annotations

from torch import nn

from dltool.models import register_model
from dltool.models.layers import ConvBN, GAPNet, check_common, check_stages, conv_layout, scale_depth, scale_width


class ResidualBlock(nn.Module):
    """He et al.'s basic block: out = ReLU(BN(conv3(ReLU(BN(conv3(x))))) + shortcut(x)).

    The shortcut is the identity when shapes match, else a 1x1 conv (with the block's stride) + BN that projects x to
    the new channels and size, so the sum is defined. Because the block only has to learn a correction to its input,
    deep stacks stay trainable.
    """

    def __init__(self, dims, c_in, c_out, stride=1, kernel=3, init="auto"):
        super().__init__()
        self.conv1 = ConvBN(dims, c_in, c_out, kernel, stride=stride, init=init)
        # no activation before the sum, but a ReLU follows it: He, not Xavier, under 'auto'
        self.conv2 = ConvBN(dims, c_out, c_out, kernel, activation=None, init="he" if init == "auto" else init)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = ConvBN(dims, c_in, c_out, 1, stride=stride, activation=None, init=init)
        self.act = nn.ReLU()

    def output_size(self, n: int) -> int:
        return self.conv1.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


@register_model("resnet")
class ResNet(GAPNet):
    """A small ResNet: conv3 stem -> stages of residual blocks -> global average pool -> linear.

    Each stage after the first halves the size (stride 2 in its first block, with a 1x1 projection shortcut).

    Args:
        channels: channels of each stage (before the width multiplier); the stem has the first stage's.
        blocks: residual blocks in each stage (before the depth multiplier).
        width: multiplies every channel count (EfficientNet's width scaling).
        depth: multiplies every stage's number of blocks, rounding up (EfficientNet's depth scaling).
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
    """

    def __init__(self, input_shape, num_classes, channels=(16, 32, 64), blocks=(1, 1, 1), width=1.0, depth=1.0,
                 keep_prob=1.0, init="auto"):
        super().__init__()
        dims, c_in, sizes = conv_layout(input_shape, "resnet")
        self.conv_shape = (c_in, *sizes)
        check_stages(channels, blocks, width, depth)
        check_common(keep_prob, init)
        channels = [scale_width(c, width) for c in channels]
        layers: list[nn.Module] = [ConvBN(dims, c_in, channels[0], 3, init=init)]
        c_in = channels[0]
        for stage, (c_out, n) in enumerate(zip(channels, blocks)):
            for b in range(scale_depth(n, depth)):
                layers.append(ResidualBlock(dims, c_in, c_out, stride=2 if stage > 0 and b == 0 else 1, init=init))
                c_in = c_out
        self._finish(dims, layers, c_in, num_classes, keep_prob, init)
