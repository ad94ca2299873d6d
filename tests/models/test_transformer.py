from __future__ import annotations

import math

import pytest
import torch

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.transformer import sinusoidal_encoding


def test_sinusoidal_encoding_by_hand():
    pe = sinusoidal_encoding(50, 8)
    assert pe.shape == (50, 8)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 4))  # sin 0, cos 0 in every pair
    # pair i has frequency 1 / 10000^(2i / d): pair 0 turns at 1 rad per step, pair 1 at 10000^(-1/4) = 0.1
    assert pe[3, 0].item() == pytest.approx(math.sin(3))
    assert pe[3, 3].item() == pytest.approx(math.cos(3 * 0.1))
    assert pe.abs().max() <= 1
    assert sinusoidal_encoding(4, 5).shape == (4, 5)  # an odd width has one cosine fewer


def test_class_token_is_learned():
    net = create_model("transformer", (1, 8, 8), 10, pooling="cls")
    net(torch.randn(4, 1, 8, 8)).sum().backward()
    assert net.cls_token.shape == (1, 1, 32) and net.cls_token.grad.abs().sum() > 0
    assert create_model("transformer", (40,), 10, pooling="mean").cls_token is None


def test_layers_heads_and_norm_placement():
    net = create_model("transformer", (40,), 10, d_model=16, heads=2, layers=3, ff_dim=24, norm_first=False)
    layers = net.encoder.layers
    assert len(layers) == 3 and layers[0].self_attn.num_heads == 2 and layers[0].linear1.out_features == 24
    assert not layers[0].norm_first and net.encoder.norm is None
    assert create_model("transformer", (40,), 10).encoder.norm is not None  # pre-LN ends with a layer norm


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"d_model": 30, "heads": 4}, r"model.d_model \(30\) must be a multiple of model.heads \(4\)"),
        ({"pooling": "max"}, "unknown model.pooling 'max'; choose from: cls, mean"),
        ({"layers": 0}, "model.layers must be an integer"),
        ({"norm_first": 1}, "model.norm_first must be true or false"),
        ({"patch": 0}, r"model.patch must be an integer in \[1, inf\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("transformer", (40,), 10, **kwargs)


def test_a_patch_token_holds_consecutive_steps():
    """patch=4 over 40 steps is 10 tokens of 4 features: the same net as patch=1 on the input laid out as (4, 10)."""
    torch.manual_seed(0)
    patched = create_model("transformer", (40,), 10, patch=4).eval()
    plain = create_model("transformer", (4, 10), 10, patch=1).eval()
    plain.load_state_dict(patched.state_dict())
    assert patched.embed.in_features == 4 and patched.positions.shape == (10, 32)
    x = torch.randn(3, 40)
    with torch.no_grad():
        assert torch.allclose(patched(x), plain(x.reshape(3, 10, 4).transpose(1, 2)), atol=1e-5)


def test_a_ragged_last_patch_is_zero_padded():
    torch.manual_seed(0)
    net = create_model("transformer", (10,), 10, patch=4).eval()  # 3 tokens, the last holds steps 8, 9 and two zeros
    assert net.positions.shape == (3, 32)
    filled = create_model("transformer", (12,), 10, patch=4).eval()
    filled.load_state_dict(net.state_dict())
    x = torch.randn(2, 10)
    with torch.no_grad():
        assert net(x).shape == (2, 10)
        assert torch.allclose(net(x), filled(torch.cat([x, torch.zeros(2, 2)], dim=1)), atol=1e-5)
    assert create_model("transformer", (3,), 2).patch == 3  # the default patch of 4 on 3 steps: one token of all
