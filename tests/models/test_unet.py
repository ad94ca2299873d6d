from __future__ import annotations

import pytest
import torch

from dltool.errors import UserError
from dltool.models import count_parameters, create_model


def test_the_parameter_count_by_hand():
    """channels [4, 8] on (1, 8, 8), 3 classes; every 3x3 conv without bias (batch norm's beta plays it):
    down 1->4->4: 9*4 + 8 + 9*16 + 8 = 196; 4->8->8: 9*32 + 16 + 9*64 + 16 = 896;
    up: transpose 2x2, 8->4, with bias: 4*32 + 4 = 132; merge 8->4->4: 9*32 + 8 + 9*16 + 8 = 448; head 1x1: 4*3 + 3 = 15."""
    assert count_parameters(create_model("unet", (1, 8, 8), 3, channels=[4, 8])) == 196 + 896 + 132 + 448 + 15


def test_skip_connections_carry_the_fine_detail():
    """The merge after each transpose convolution takes the skip and the upsampled features stacked: twice the
    channels of its level."""
    net = create_model("unet", (1, 16, 16), 2, channels=[4, 8, 16])
    assert [m[0].conv.in_channels for m in net.merge] == [16, 8]  # 8 + 8, then 4 + 4
    assert [u.out_channels for u in net.up] == [8, 4]
    out = net(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 2, 16, 16)


@pytest.mark.parametrize("shape,kwargs,message", [
    ((40,), {}, r"model unet takes images of shape \(C, H, W\), e.g. data=canvas; got \(40,\)"),
    ((1, 10, 10), {}, "its height and width must divide by 8, got 10 x 10"),
    ((1, 8, 8), {"channels": [8]}, "model.channels must list the channels of at least 2 levels"),
    ((1, 8, 8), {"channels": [8, 0]}, r"model.channels \(each level\) must be an integer in \[1, inf\)"),
])
def test_shapes_and_settings_it_cannot_take_are_one_line(shape, kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("unet", shape, 3, **kwargs)
