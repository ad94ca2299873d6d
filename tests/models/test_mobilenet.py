from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.mobilenet import DepthwiseSeparable, InvertedResidual
from tests.models.conftest import of_type


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


@pytest.mark.parametrize("expansion", [1, 4])
def test_the_inverted_residual_sizes_by_its_depthwise_conv_without_registering_it_twice(expansion):
    block = InvertedResidual(1, 8, 8, stride=2, expansion=expansion)
    assert block.depthwise is block.block[-2] and block.depthwise.conv.groups == 8 * expansion
    assert block.output_size(12) == 6 == block(torch.randn(2, 8, 12)).shape[-1]
    assert [name for name, _ in block.named_children()] == ["block"]


def test_bad_arguments():
    with pytest.raises(UserError, match="model.expansion must be an integer"):
        create_model("mobilenet", (40,), 10, expansion=0)
