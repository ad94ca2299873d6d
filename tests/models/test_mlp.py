from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.mlp import Residual


def linears(net):
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def test_paper_mlp_has_15210_parameters():
    net = create_model("mlp", (40,), 10, hidden=[100, 100])  # Greydanus & Kobak 2024: 40 -> 100 -> 100 -> 10
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


def test_residual_is_the_paper_mlp_by_hand():
    """The MNIST-1D paper's MLP: h1 = relu(W1 x + b1), h2 = h1 + relu(W2 h1 + b2), logits = W3 h2 + b3."""
    torch.manual_seed(0)
    net = create_model("mlp", (40,), 10, hidden=[100, 100], residual=True, init="torch")
    assert sum(p.numel() for p in net.parameters()) == 15_210  # a shortcut has no parameters
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight, m.bias) for m in linears(net)]
    x = torch.randn(7, 40)
    h1 = torch.relu(x @ w1.T + b1)
    h2 = h1 + torch.relu(h1 @ w2.T + b2)
    assert torch.allclose(net(x), h2 @ w3.T + b3, atol=1e-6)


def test_residual_only_where_the_width_stays():
    plain = create_model("mlp", (6,), 2, hidden=[8, 8, 4, 4], batch_norm=True)
    net = create_model("mlp", (6,), 2, hidden=[8, 8, 4, 4], residual=True, keep_prob=0.5, batch_norm=True)
    shortcuts = [m for m in net.features if isinstance(m, Residual)]
    assert len(shortcuts) == 2  # around 8 -> 8 and 4 -> 4; not 6 -> 8 nor 8 -> 4
    assert [type(m) for m in shortcuts[0].block] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in plain.parameters())
    first = create_model("mlp", (6,), 2, hidden=[6], residual=True)  # the first layer keeps the input's width
    assert [type(m) for m in first.features] == [nn.Flatten, Residual]


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
        ({"hidden": [100], "residual": True}, r"model.residual needs a hidden layer as wide as its input, got hidden="
                                              r"\[100\] on 10 inputs"),
        ({"hidden": [64, 32], "residual": True}, r"got hidden=\[64, 32\] on 10 inputs"),
        ({"residual": "yes"}, "model.residual"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("mlp", (10,), 2, **{"hidden": [8], **kwargs})
