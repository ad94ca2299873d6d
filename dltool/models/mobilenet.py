"""MobileNets: v1's depthwise separable convolutions (Howard et al. 2017) and v2's inverted residuals with a linear
bottleneck (Sandler et al. 2018), their blocks and the one net that stacks either.

The blocks and the net take 1-D, 2-D or 3-D inputs alike; the shared conv pieces are in ``dltool.models.layers``.
"""

from __future__ import annotations

from torch import nn

from dltool.errors import check_number
from dltool.models import register_model
from dltool.models.layers import ConvBN, GAPNet, Resize, check_common, check_stages, compound_scaling, conv_layout, \
    scale_depth, scale_resolution, scale_width


class DepthwiseSeparable(nn.Module):
    """MobileNet v1: a depthwise conv (one filter per channel, groups = channels) then a 1x1 pointwise conv.

    It costs about 1/c_out + 1/k^d of a full k^d convolution's multiplications.
    """

    def __init__(self, dims, c_in, c_out, stride=1, kernel=3, init="auto"):
        super().__init__()
        self.depthwise = ConvBN(dims, c_in, c_in, kernel, stride=stride, groups=c_in, init=init)
        self.pointwise = ConvBN(dims, c_in, c_out, 1, init=init)

    def output_size(self, n: int) -> int:
        return self.depthwise.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """MobileNet v2: 1x1 expansion -> depthwise conv -> linear 1x1 bottleneck, plus the input when shapes match.

    The bottleneck has no activation: a ReLU in the narrow space would destroy information (Sandler et al. 2018).
    """

    def __init__(self, dims, c_in, c_out, stride=1, expansion=6, kernel=3, init="auto"):
        super().__init__()
        hidden = c_in * expansion
        layers = [ConvBN(dims, c_in, hidden, 1, activation="relu6", init=init)] if expansion != 1 else []
        layers += [
            ConvBN(dims, hidden, hidden, kernel, stride=stride, groups=hidden, activation="relu6", init=init),
            ConvBN(dims, hidden, c_out, 1, activation=None, init=init),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    @property
    def depthwise(self) -> ConvBN:
        """The depthwise conv, ``block[-2]`` with or without the expansion. A property, not an attribute: a module
        assigned to an attribute is registered a second time, and every checkpoint would hold its tensors twice."""
        return self.block[-2]

    def output_size(self, n: int) -> int:
        return self.depthwise.output_size(n)

    def forward(self, x):  # (B, C_in, *S) -> (B, C_out, *S')
        out = self.block(x)
        return x + out if self.residual else out


class MobileNet(GAPNet):
    """MobileNet: conv3 stem -> stages of v2 inverted residual (or v1 depthwise separable) blocks -> GAP -> linear.

    Each stage after the first halves the size in its first block.

    Args:
        channels: output channels of each stage (before the width multiplier); the stem has the first stage's.
        blocks: blocks in each stage (before the depth multiplier).
        expansion: v2's expansion factor of the inverted residual's hidden layer (ignored by v1 blocks).
        width: MobileNet's width multiplier alpha: multiplies every channel count.
        depth: multiplies every stage's number of blocks, rounding up (EfficientNet's depth scaling).
        resolution: multiplies the input's length (or height and width): each example is resampled to it first.
        compound: EfficientNet's compound coefficient phi: depth x 1.2^phi, width x 1.1^phi and resolution x 1.15^phi
            together (0: as given; 1 about doubles the multiply-adds; negative scales down).
        keep_prob: inverted dropout before the output layer; 1.0 = off.
        init: auto (He), he, xavier or torch.
        version: 2 (inverted residuals, ReLU6) or 1 (depthwise separable convolutions, ReLU).
    """

    def __init__(self, input_shape, num_classes, channels=(16, 24, 32), blocks=(1, 2, 2), expansion=4, width=1.0,
                 depth=1.0, resolution=1.0, compound=0.0, keep_prob=1.0, init="auto", version=2):
        super().__init__()
        name = "mobilenet" if version == 2 else "mobilenet_v1"
        dims, c_in, sizes = conv_layout(input_shape, name)
        self.conv_shape = (c_in, *sizes)
        check_stages(channels, blocks, width, depth)
        check_number(resolution, "model.resolution", low=0, low_open=True)
        check_number(compound, "model.compound", low=-4, high=4)
        check_number(expansion, "model.expansion", low=1, integer=True)
        check_common(keep_prob, init)
        depth, width, resolution = compound_scaling(compound, depth, width, resolution)
        resized = scale_resolution(sizes, resolution)
        if resized != sizes:
            self.resize = Resize(resized)
        channels = [scale_width(c, width) for c in channels]
        layers: list[nn.Module] = [ConvBN(dims, c_in, channels[0], 3, activation="relu6" if version == 2 else "relu",
                                          init=init)]
        c_in = channels[0]
        for stage, (c_out, n) in enumerate(zip(channels, blocks)):
            for b in range(scale_depth(n, depth)):
                stride = 2 if stage > 0 and b == 0 else 1
                if version == 2:
                    layers.append(InvertedResidual(dims, c_in, c_out, stride=stride, expansion=expansion, init=init))
                else:
                    layers.append(DepthwiseSeparable(dims, c_in, c_out, stride=stride, init=init))
                c_in = c_out
        self._finish(dims, layers, c_in, num_classes, keep_prob, init)


@register_model("mobilenet")
def mobilenet(input_shape, num_classes, channels=(16, 24, 32), blocks=(1, 2, 2), expansion=4, width=1.0, depth=1.0,
              resolution=1.0, compound=0.0, keep_prob=1.0, init="auto"):
    """MobileNet v2 (Sandler et al. 2018): inverted residuals with expansion and a linear bottleneck; EfficientNet's
    compound scaling of its depth, width and input resolution by one coefficient (``compound``)."""
    return MobileNet(input_shape, num_classes, channels, blocks, expansion, width, depth, resolution, compound,
                     keep_prob, init, version=2)


@register_model("mobilenet_v1")
def mobilenet_v1(input_shape, num_classes, channels=(16, 32, 64), blocks=(1, 1, 1), width=1.0, depth=1.0,
                 resolution=1.0, compound=0.0, keep_prob=1.0, init="auto"):
    """MobileNet v1 (Howard et al. 2017): depthwise separable convolutions."""
    return MobileNet(input_shape, num_classes, channels, blocks, 1, width, depth, resolution, compound, keep_prob,
                     init, version=1)
