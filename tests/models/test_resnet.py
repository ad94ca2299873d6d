from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.resnet import ResidualBlock
from tests.models.conftest import of_type


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


def test_width_and_depth_multipliers_scale_a_resnet():
    base = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2])
    wide = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2], width=2.0)
    deep = create_model("resnet", (40,), 10, channels=[8, 16], blocks=[1, 2], depth=2.0)
    assert [len(of_type(n, ResidualBlock)) for n in (base, wide, deep)] == [3, 3, 6]
    assert of_type(wide, nn.Linear)[0].in_features == 32


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"blocks": [1, 1]}, r"model.blocks must be a list with one block count per stage \(3\)"),
        ({"width": 0}, "model.width must be a number in"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("resnet", (40,), 10, **kwargs)
