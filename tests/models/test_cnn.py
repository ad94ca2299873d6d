from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from tests.models.conftest import of_type


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_paper_cnn_has_5210_parameters():
    net = create_model("cnn_paper", (40,), 10)  # Greydanus & Kobak 2024: 3 x Conv1d(25) + Linear(125 -> 10)
    assert n_params(net) == 5_210
    convs = of_type(net, nn.Conv1d)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 25, (5,), (2,), (1,)), (25, 25, (3,), (2,), (1,)), (25, 25, (3,), (2,), (1,))]
    assert [(m.in_features, m.out_features) for m in of_type(net, nn.Linear)] == [(125, 10)]  # 25 x 5 positions
    assert not of_type(net, nn.BatchNorm1d) and not of_type(net, nn.MaxPool1d)


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


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"padding": "full"}, "model.padding must be same, valid or a number"),
        ({"kernel_sizes": 4}, "model.kernel_sizes must be odd with padding=same, got 4"),
        ({"kernel_sizes": [3, 3]}, "model.kernel_sizes has 2 values for 3 layers"),
        ({"pool": "min"}, "unknown model.pool 'min'; choose from: max, avg, none"),
        ({"head": "attention"}, "unknown model.head 'attention'; choose from: flatten, gap"),
        ({"channels": []}, "model.channels must be a non-empty list"),
        ({"keep_prob": 0}, r"model.keep_prob must be a number in \(0, 1\], got 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("cnn", (40,), 10, **kwargs)
