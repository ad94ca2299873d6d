from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model


def linears(net):
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def test_paper_mlp_has_15210_parameters():
    net = create_model("mlp", (40,), 10, hidden=[100, 100])  # REFERENCE.md: 40 -> 100 -> 100 -> 10
    assert sum(p.numel() for p in net.parameters()) == 15_210


def test_no_hidden_layer_is_logistic_regression():
    net = create_model("mlp", (40,), 10, hidden=[])
    assert [(m.in_features, m.out_features) for m in linears(net)] == [(40, 10)]


@pytest.mark.parametrize(
    "init,activation,variance",
    [
        ("he", "relu", lambda fan_in, fan_out: 2 / fan_in),
        ("auto", "relu", lambda fan_in, fan_out: 2 / fan_in),
        ("xavier", "relu", lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
        ("auto", "tanh", lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    ],
)
def test_initialization_variance(init, activation, variance):
    torch.manual_seed(0)
    net = create_model("mlp", (800,), 10, hidden=[400], init=init, activation=activation)
    hidden = linears(net)[0]
    expected = variance(800, 400)
    assert hidden.weight.var().item() == pytest.approx(expected, rel=0.02)  # 320,000 draws: ~0.25% std error
    assert torch.all(hidden.bias == 0)


def test_inverted_dropout_scales_in_training_and_is_off_in_eval():
    torch.manual_seed(0)
    net = create_model("mlp", (50,), 3, hidden=[2000], keep_prob=0.8)
    dropout = next(m for m in net.modules() if isinstance(m, nn.Dropout))
    a = torch.ones(64, 2000)
    dropout.train()
    out = dropout(a)
    assert (out == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.8))  # kept units are scaled by 1/keep_prob
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)  # so the expected activation is unchanged
    net.eval()
    x = torch.randn(5, 50)
    assert torch.equal(net(x), net(x))  # no randomness at test time


def test_keep_prob_per_layer():
    net = create_model("mlp", (10,), 2, hidden=[8, 8], keep_prob=[0.5, 1.0])
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.5]


def test_batch_norm_sits_between_linear_and_activation():
    net = create_model("mlp", (10,), 2, hidden=[8], batch_norm=True)
    kinds = [type(m) for m in net.features]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert net.features[1].bias is None  # batch norm's beta plays the bias


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"keep_prob": 0}, r"model.keep_prob must be a number in \(0, 1\], got 0"),
        ({"keep_prob": 1.5}, "model.keep_prob must be"),
        ({"keep_prob": [0.5, 0.5]}, "2 values for 1 hidden layers"),
        ({"activation": "swish"}, "unknown activation 'swish'; choose from: relu, leaky_relu, tanh, sigmoid"),
        ({"init": "orthogonal"}, "unknown init 'orthogonal'; choose from: auto, he, xavier, torch"),
        ({"hidden": [0]}, "model.hidden"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("mlp", (10,), 2, **{"hidden": [8], **kwargs})
