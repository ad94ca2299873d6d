from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.models import create_model
from dltool.models.layers import ConvBN, conv_output_size, scale_depth, scale_width
from tests.models.conftest import of_type


@pytest.mark.parametrize(
    "n,f,p,s,expected",
    [
        (40, 5, 1, 2, 19),  # (40 + 2 - 5) / 2 = 18.5 -> 18, + 1: the paper's first layer
        (19, 3, 1, 2, 10),  # (19 + 2 - 3) / 2 = 9, + 1
        (10, 3, 1, 2, 5),  # (10 + 2 - 3) / 2 = 4.5 -> 4, + 1
        (8, 5, 0, 1, 4),  # valid 5x5 on an 8x8 digit: 8 - 5 + 1
        (8, 3, 1, 1, 8),  # same padding at stride 1 keeps the size
        (7, 2, 0, 2, 3),  # 2x2 pooling, stride 2, on an odd size rounds down
        (6, 6, 0, 1, 1),  # a window as large as the input
        (5, 3, 2, 3, 3),  # (5 + 4 - 3) / 3 = 2, + 1
    ],
)
def test_conv_output_size_by_hand(n, f, p, s, expected):
    assert conv_output_size(n, f, p, s) == expected


@pytest.mark.parametrize("n,f,p,s", [(40, 5, 1, 2), (19, 3, 1, 2), (8, 5, 0, 1), (7, 2, 0, 2), (13, 3, 1, 3),
                                     (9, 4, 2, 1)])
def test_conv_output_size_matches_real_layers(n, f, p, s):
    expected = conv_output_size(n, f, p, s)
    x1, x2 = torch.randn(1, 1, n), torch.randn(1, 1, n, n + 3)
    assert nn.Conv1d(1, 1, f, stride=s, padding=p)(x1).shape[-1] == expected
    assert nn.Conv2d(1, 1, f, stride=s, padding=p)(x2).shape[-2:] == (expected, conv_output_size(n + 3, f, p, s))
    assert nn.MaxPool1d(f, stride=s, padding=p)(x1).shape[-1] == expected
    assert nn.AvgPool2d(f, stride=s, padding=p)(x2).shape[-2] == expected


def test_the_input_rank_picks_1d_or_2d_layers():
    assert of_type(create_model("cnn", (40,), 10), nn.Conv1d)[0].in_channels == 1  # a signal is one channel
    assert of_type(create_model("cnn", (3, 20), 10), nn.Conv1d)[0].in_channels == 3
    net = create_model("resnet", (1, 8, 8), 10)
    assert of_type(net, nn.Conv2d) and not of_type(net, nn.Conv1d)
    assert of_type(net, nn.BatchNorm2d)


def test_width_and_depth_multipliers():
    assert [scale_width(16, w) for w in (1.0, 0.5, 2.0, 0.01)] == [16, 8, 32, 1]
    assert [scale_depth(2, d) for d in (1.0, 1.5, 0.1)] == [2, 3, 1]


def test_conv_bn_drops_the_bias_that_batch_norm_replaces():
    assert ConvBN(1, 2, 3, 3).conv.bias is None
    assert ConvBN(1, 2, 3, 3, batch_norm=False).conv.bias is not None


def test_he_initialization_of_conv_layers():
    torch.manual_seed(0)
    net = create_model("cnn", (40,), 10, channels=[256, 256], kernel_sizes=3)
    conv = of_type(net, nn.Conv1d)[1]
    assert conv.weight.var().item() == pytest.approx(2 / (256 * 3), rel=0.02)  # fan_in = channels x kernel
