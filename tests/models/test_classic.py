"""The classic nets (AlexNet, VGG) and EfficientNet's compound scaling, against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import count_parameters, create_model
from dltool.models.layers import COMPOUND, Resize, compound_scaling, scale_resolution
from dltool.models.mobilenet import InvertedResidual


def test_alexnet_parameters_by_hand_on_a_signal():
    # convs with biases (no batch norm): 1*32*5+32, 32*64*5+64, 64*96*3+96, 96*96*3+96, 96*64*3+64; pools after
    # conv 1, 2 and 5 take 40 -> 20 -> 10 -> 5, so the head reads 64 * 5 = 320: 320*256+256, 256*256+256, 256*10+10
    by_hand = 192 + 10_304 + 18_528 + 27_744 + 18_496 + 82_176 + 65_792 + 2_570
    net = create_model("alexnet", (40,), 10)
    assert count_parameters(net) == by_hand == 225_802
    assert net(torch.randn(3, 40)).shape == (3, 10)
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in net.modules()) == 2  # after conv 1 and 2
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in create_model("alexnet", (40,), 10, lrn=False).modules())
    assert len(net.features) == 5  # one block a conv layer: model.freeze=N counts them


def test_local_response_normalization_is_the_papers_formula():
    # b_c = a_c / (k + alpha / n * sum of a_j^2 over the n channels around c)^beta, k 2, n 5, alpha 1e-4, beta 0.75
    a = torch.arange(1.0, 7.0).reshape(1, 6, 1) * 10  # 6 channels: 10, 20, ..., 60
    lrn = create_model("alexnet", (40,), 10).features[0][1]
    squares = (a[0, :, 0] ** 2).numpy()
    expected = [a[0, c, 0].item() / (2 + 1e-4 / 5 * squares[max(0, c - 2):c + 3].sum()) ** 0.75 for c in range(6)]
    np.testing.assert_allclose(lrn(a)[0, :, 0].numpy(), expected, rtol=1e-6)


def test_vgg_parameters_by_hand_and_its_pools_stop_at_one():
    # 3x3 convs: (1*32+32*32)*3 + 32*2, (32*64+64*64)*3 + 64*2, (64*128+2*128*128)*3 + 128*3; 40 -> 20 -> 10 -> 5;
    # the head reads 128 * 5 = 640: 640*256+256, 256*256+256, 256*10+10
    by_hand = 3_232 + 18_560 + 123_264 + 164_096 + 65_792 + 2_570
    assert count_parameters(create_model("vgg", (40,), 10)) == by_hand == 377_514
    four = create_model("vgg", (1, 8, 8), 10, channels=[8, 8, 8, 8], convs=[1, 1, 1, 1], hidden=[])
    assert four.head[-1].in_features == 8  # 8 -> 4 -> 2 -> 1, and the fourth stage keeps its 1 x 1
    assert sum(isinstance(m, nn.MaxPool2d) for m in four.modules()) == 3
    assert four(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name,kwargs,message", [
    ("alexnet", {"channels": [8, 8, 8, 8]}, "model alexnet has five conv layers"),
    ("alexnet", {"kernel_sizes": [4, 5, 3, 3, 3]}, "model.kernel_sizes must be odd"),
    ("vgg", {"convs": [2, 2]}, r"model.convs must give one conv count a stage \(3\)"),
    ("vgg", {"channels": []}, "model.channels must be a non-empty list"),
    ("mobilenet", {"compound": 9}, r"model.compound must be a number in \[-4, 4\], got 9"),
    ("mobilenet", {"resolution": 0}, r"model.resolution must be a number in \(0, inf\), got 0"),
])
def test_bad_arguments_are_one_line(name, kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model(name, (40,), 10, **kwargs)


def test_compound_scaling_is_tan_and_les_coefficients():
    assert compound_scaling(0, 1.0, 1.0, 1.0) == (1.0, 1.0, 1.0)
    d, w, r = compound_scaling(2, 1.0, 0.5, 1.0)
    assert (d, w, r) == pytest.approx((1.44, 0.5 * 1.21, 1.3225))
    # alpha * beta^2 * gamma^2 ~ 2: one step of phi about doubles the multiply-adds (Tan & Le 2019, eq. 3)
    assert COMPOUND["depth"] * COMPOUND["width"] ** 2 * COMPOUND["resolution"] ** 2 == pytest.approx(1.92, abs=0.01)
    assert scale_resolution((40,), 1.15) == (46,) and scale_resolution((8, 8), 0.01) == (1, 1)


def test_a_compound_mobilenet_is_deeper_wider_and_reads_a_resampled_input():
    base, scaled = create_model("mobilenet", (40,), 10), create_model("mobilenet", (40,), 10, compound=1)
    blocks = [m for m in scaled.features if isinstance(m, InvertedResidual)]
    assert len(blocks) == 8  # ceil(1.2 x [1, 2, 2]) = [2, 3, 3]
    assert scaled.features[0].conv.out_channels == 18 and blocks[-1].block[-1].conv.out_channels == 35  # 1.1 x 16, 32
    assert scaled.resize.sizes == (46,)  # 40 x 1.15
    assert isinstance(base.resize, nn.Identity)  # phi = 0: the net as before, the same state_dict
    assert set(base.state_dict()) == set(create_model("mobilenet", (40,), 10, compound=0.0).state_dict())
    x = torch.randn(2, 40)
    seen = []
    scaled.features[0].register_forward_pre_hook(lambda m, i: seen.append(tuple(i[0].shape)))  # returns None
    scaled.eval()(x)
    assert seen == [(2, 1, 46)]


def test_resize_is_linear_interpolation_of_pixel_centres():
    # align_corners=False: output i samples the input at (i + 0.5) * 2 / 4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped
    out = Resize((4,))(torch.tensor([[[0.0, 1.0]]]))
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.25, 0.75, 1.0]]]))
    assert Resize((3, 5))(torch.zeros(2, 1, 8, 8)).shape == (2, 1, 3, 5)


def test_yolo_carries_its_backbones_resolution():
    net = create_model("yolo", (1, 32, 32), 15, backbone="mobilenet", backbone_args={"resolution": 1.5})
    assert net.resize.sizes == (48, 48) and net.grid == 12  # 48 halved twice by mobilenet's two strided stages
    assert net(torch.randn(2, 1, 32, 32)).shape[-2:] == (12, 12)


def test_visualize_refuses_a_net_that_resamples_its_input():
    from dltool.visualize import conv_layers

    assert len(conv_layers(create_model("mobilenet", (40,), 10))) == 6
    with pytest.raises(UserError, match="the net resamples its input first"):
        conv_layers(create_model("mobilenet", (40,), 10, resolution=1.5))
