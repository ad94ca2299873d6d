from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.rnn import as_sequence, sequence_layout


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_paper_gru_has_5134_parameters():
    net = create_model("gru_paper", (40,), 10)  # Greydanus & Kobak 2024: bidirectional GRU, hidden 6, flattened outputs
    # per direction 3 gates x (6 x 1 input weights + 6 x 6 recurrent weights + 2 x 6 biases) = 162
    assert n_params(net.rnn) == 2 * 3 * (6 * 1 + 6 * 6 + 2 * 6) == 324
    assert (net.head.in_features, n_params(net.head)) == (40 * 12, 4_810)
    assert n_params(net) == 5_134


@pytest.mark.parametrize("shape,layout", [((40,), (40, 1)), ((3, 20), (20, 3)), ((2, 8, 5), (8, 10))])
def test_sequence_layout(shape, layout):
    assert sequence_layout(shape, "gru") == layout
    assert as_sequence(torch.zeros(4, *shape)).shape == (4, *layout)


def test_an_image_becomes_its_rows_with_every_channel_side_by_side():
    x = torch.randn(2, 3, 8, 5)  # (B, C, H, W)
    seq = as_sequence(x)  # (B, H, C * W)
    assert torch.equal(seq[1, 6, 2 * 5 + 4], x[1, 2, 6, 4])
    assert torch.equal(seq[0, 3, :5], x[0, 0, 3])


def test_bidirectional_last_readout_is_both_directions_final_states():
    torch.manual_seed(0)
    net = create_model("gru", (12,), 4, hidden=5, layers=2, bidirectional=True, readout="last")
    x = torch.randn(3, 12)
    out, _ = net.rnn(as_sequence(x))  # (B, T, 2 * H)
    # the forward direction ends at the last step, the backward one at the first
    expected = torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=1)
    assert torch.allclose(net(x), net.head(expected), atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("readout,features", [("last", 8), ("mean", 8), ("flatten", 8 * 12)])
def test_readouts_feed_the_head(cell, readout, features):
    net = create_model(cell, (12,), 3, hidden=4, bidirectional=True, readout=readout)
    assert isinstance(net.rnn, {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell])
    assert net.head.in_features == features
    assert net(torch.randn(2, 12)).shape == (2, 3)


def test_stacked_layers_and_dropout_between_them():
    net = create_model("lstm", (1, 8, 8), 10, hidden=16, layers=3, bidirectional=False, keep_prob=0.75)
    assert (net.rnn.num_layers, net.rnn.dropout, net.rnn.bidirectional) == (3, 0.25, False)
    assert net.dropout.p == 0.25  # and before the output layer
    single = create_model("lstm", (40,), 10, layers=1, keep_prob=0.75)
    assert single.rnn.dropout == 0  # PyTorch's between-layer dropout would only warn with one layer


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"readout": "max"}, "unknown model.readout 'max'; choose from: last, mean, flatten"),
        ({"hidden": 0}, r"model.hidden must be an integer in \[1, inf\), got 0"),
        ({"layers": 1.5}, "model.layers must be an integer"),
        ({"bidirectional": "yes"}, "model.bidirectional must be true or false"),
        ({"keep_prob": 1.5}, "model.keep_prob must be"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        create_model("gru", (40,), 10, **kwargs)
