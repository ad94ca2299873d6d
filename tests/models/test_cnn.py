from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.cnn import (
    ConvBN,
    DepthwiseSeparable,
    Inception,
    InvertedResidual,
    ResidualBlock,
    conv_output_size,
    scale_depth,
    scale_width,
)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def of_type(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


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


def test_paper_cnn_has_5210_parameters():
    net = create_model("cnn_paper", (40,), 10)  # REFERENCE.md: 3 x Conv1d(25) + Linear(125 -> 10)
    assert n_params(net) == 5_210
    convs = of_type(net, nn.Conv1d)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 25, (5,), (2,), (1,)), (25, 25, (3,), (2,), (1,)), (25, 25, (3,), (2,), (1,))]
    assert [(m.in_features, m.out_features) for m in of_type(net, nn.Linear)] == [(125, 10)]  # 25 x 5 positions
    assert not of_type(net, nn.BatchNorm1d) and not of_type(net, nn.MaxPool1d)


def test_the_input_rank_picks_1d_or_2d_layers():
    assert of_type(create_model("cnn", (40,), 10), nn.Conv1d)[0].in_channels == 1  # a signal is one channel
    assert of_type(create_model("cnn", (3, 20), 10), nn.Conv1d)[0].in_channels == 3
    net = create_model("resnet", (1, 8, 8), 10)
    assert of_type(net, nn.Conv2d) and not of_type(net, nn.Conv1d)
    assert of_type(net, nn.BatchNorm2d)


def test_flatten_head_is_sized_by_the_shape_arithmetic():
    # 40 -valid k5 s1-> 36 -pool-> 18 -valid k3 s2-> 8 -pool-> 4; 7 channels x 4
    net = create_model("cnn", (40,), 3, channels=[5, 7], kernel_sizes=[5, 3], strides=[1, 2], padding="valid")
    assert of_type(net, nn.Linear)[0].in_features == 7 * 4
    assert net(torch.randn(2, 40)).shape == (2, 3)
    gap = create_model("cnn", (1, 8, 8), 3, channels=[5, 7], head="gap")
    assert of_type(gap, nn.Linear)[0].in_features == 7


def test_an_input_too_small_for_the_network_is_a_user_error():
    # same padding and 2x2 pooling: 8 -> 4 -> 2 -> 1 -> nothing
    with pytest.raises(UserError, match=r"input \(1, 8, 8\) is too small for this network: it shrinks to nothing at "
                                        r"the pooling after conv layer 4; try fewer layers, .*pool=none$"):
        create_model("cnn", (1, 8, 8), 10, channels=[4, 4, 4, 4])
    with pytest.raises(UserError, match="at conv layer 2; .*, padding=same$"):
        create_model("cnn", (40,), 10, channels=[4, 4], kernel_sizes=[21, 21], padding="valid", pool="none")


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 10)
    for block in (ResidualBlock(1, 6, 6), ResidualBlock(1, 6, 9, stride=2)):
        block.eval()
        for conv in (block.conv1.conv, block.conv2.conv):
            nn.init.zeros_(conv.weight)  # the main path now outputs BN(0) = 0
        with torch.no_grad():
            assert torch.allclose(block(x), torch.relu(block.shortcut(x)))
    identity, projected = ResidualBlock(1, 6, 6), ResidualBlock(1, 6, 9, stride=2)
    assert isinstance(identity.shortcut, nn.Identity)
    assert identity.eval()(x).shape == x.shape
    conv = projected.shortcut.conv  # 1x1 projection with the block's stride, so the sum is defined
    assert (conv.kernel_size, conv.stride, conv.out_channels) == ((1,), (2,), 9)
    assert projected(x).shape == (4, 9, 5)


def test_depthwise_convolutions_have_one_filter_per_channel():
    block = DepthwiseSeparable(2, 8, 16)
    assert block.depthwise.conv.groups == 8 and block.depthwise.conv.weight.shape == (8, 1, 3, 3)
    assert block.pointwise.conv.kernel_size == (1, 1)
    assert block(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)
    for name in ("mobilenet", "mobilenet_v1"):
        net = create_model(name, (40,), 10)
        depthwise = [c for c in of_type(net, nn.Conv1d) if c.groups > 1]
        assert depthwise and all(c.groups == c.in_channels == c.out_channels for c in depthwise)


def test_inverted_residual_expands_then_projects_linearly():
    block = InvertedResidual(1, 8, 8, stride=1, expansion=4)
    expand, depthwise, project = block.block
    assert expand.conv.out_channels == 32 and depthwise.conv.groups == 32
    assert isinstance(project.act, nn.Identity)  # the linear bottleneck
    assert isinstance(expand.act, nn.ReLU6)
    assert block.residual  # same channels, stride 1
    assert not InvertedResidual(1, 8, 16).residual and not InvertedResidual(1, 8, 8, stride=2).residual
    torch.manual_seed(0)
    x = torch.randn(3, 8, 12)
    block.eval()
    nn.init.zeros_(project.conv.weight)
    with torch.no_grad():
        assert torch.allclose(block(x), x)  # with a zero bottleneck only the skip connection is left


def test_inception_concatenates_its_branches():
    block = Inception(2, 16, c1=4, c3_reduce=6, c3=8, c5_reduce=2, c5=3, pool_proj=5)
    assert block.out_channels == 4 + 8 + 3 + 5
    assert block(torch.randn(2, 16, 7, 7)).shape == (2, 20, 7, 7)  # every branch keeps the size
    assert block.branch3[0].conv.kernel_size == (1, 1) and block.branch5[1].conv.kernel_size == (5, 5)


def test_width_and_depth_multipliers():
    assert [scale_width(16, w) for w in (1.0, 0.5, 2.0, 0.01)] == [16, 8, 32, 1]
    assert [scale_depth(2, d) for d in (1.0, 1.5, 0.1)] == [2, 3, 1]
    base = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2])
    wide = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2], width=2.0)
    deep = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2], depth=2.0)
    assert [len(of_type(n, ResidualBlock)) for n in (base, wide, deep)] == [3, 3, 6]
    assert of_type(wide, nn.Linear)[0].in_features == 32
    assert of_type(create_model("inception", (40,), 10, width=0.5), Inception)[1].out_channels == 30


def test_conv_bn_drops_the_bias_that_batch_norm_replaces():
    assert ConvBN(1, 2, 3, 3).conv.bias is None
    assert ConvBN(1, 2, 3, 3, batch_norm=False).conv.bias is not None


def test_he_initialization_of_conv_layers():
    torch.manual_seed(0)
    net = create_model("cnn", (40,), 10, channels=[256, 256], kernel_sizes=3)
    conv = of_type(net, nn.Conv1d)[1]
    assert conv.weight.var().item() == pytest.approx(2 / (256 * 3), rel=0.02)  # fan_in = channels x kernel


@pytest.mark.parametrize(
    "name,kwargs,message",
    [
        ("cnn", {"padding": "full"}, "model.padding must be same, valid or a number"),
        ("cnn", {"kernel_sizes": 4}, "model.kernel_sizes must be odd with padding=same, got 4"),
        ("cnn", {"kernel_sizes": [3, 3]}, "model.kernel_sizes has 2 values for 3 layers"),
        ("cnn", {"pool": "min"}, "unknown model.pool 'min'; choose from: max, avg, none"),
        ("cnn", {"head": "attention"}, "unknown model.head 'attention'; choose from: flatten, gap"),
        ("cnn", {"channels": []}, "model.channels must be a non-empty list"),
        ("cnn", {"keep_prob": 0}, r"model.keep_prob must be a number in \(0, 1\], got 0"),
        ("resnet", {"blocks": [1, 1]}, r"model.blocks must be a list with one block count per stage \(3\)"),
        ("resnet", {"width": 0}, "model.width must be a number in"),
        ("mobilenet", {"expansion": 0}, "model.expansion must be an integer"),
        ("inception", {"init": "orthogonal"}, "unknown init 'orthogonal'; choose from: auto, he, xavier, torch"),
    ],
)
def test_bad_arguments(name, kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model(name, (40,), 10, **kwargs)
