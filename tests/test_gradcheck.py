from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from dltool.config import compose
from dltool.errors import UserError
from dltool.gradcheck import band, check, cost, relative_difference
from dltool.train import build
from tests.conftest import invoke

SMALL = ["data=digits", "model.hidden=[8]"]


def test_relative_difference_and_bands_by_hand():
    assert relative_difference([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_difference([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.sqrt(2) / 2)
    assert relative_difference([0.0], [0.0]) == 0.0
    assert relative_difference([3.0], [1.0]) == pytest.approx(2 / 4)
    assert [band(d) for d in (1e-7, 1e-5, 1e-3)] == ["fine", "check", "bug"]  # the course's three marks


class _WrongWeightGrad(torch.autograd.Function):
    """x W^T + b whose backward gives W twice its gradient: a planted bug."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        return grad @ weight, 2 * grad.T @ x, grad.sum(0)


class BuggyLinear(nn.Linear):
    def forward(self, x):
        return _WrongWeightGrad.apply(x, self.weight, self.bias)


def test_a_planted_wrong_backward_is_named_and_agrees_with_torch_gradcheck():
    setup = build(compose(SMALL))
    good = setup.module.net.features[1]
    bad = BuggyLinear(good.in_features, good.out_features)
    bad.load_state_dict(good.state_dict())
    setup.module.net.features[1] = bad
    result = check(setup)
    assert result["band"] == "bug" and result["worst"] == "net.features.1.weight"
    assert result["bands"]["net.features.1.weight"] == "bug" and result["bands"]["net.head.weight"] == "fine"
    # the independent reference agrees: torch's own gradcheck fails the planted backward, passes the right one
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert not torch.autograd.gradcheck(_WrongWeightGrad.apply, (x, w, b), raise_exception=False)
    assert torch.autograd.gradcheck(torch.nn.functional.linear, (x, w, b))
    # ... and dltool passes the same layer built right (nn.Linear, the planted one's twin)
    setup.module.net.features[1] = good
    assert check(setup)["bands"]["net.features.1.weight"] == "fine"


@pytest.mark.parametrize("overrides", [SMALL, ["data=digits", "model=cnn", "model.channels=[4,4]"],
                                       ["data=digits", "model.keep_prob=0.5", "optimizer.weight_decay=0.1"],
                                       # each task's loss in float64, never cast down to float32 (was "bug" for these)
                                       ["task=lm", "model=rnn_lm", "data=names", "data.n=60"],
                                       ["task=verify", "data=digits", "model=cnn", "model.channels=[4,4]"]])
def test_a_correct_model_is_fine_with_dropout_switched_off_and_l2_in_the_cost(overrides):
    """Dropout left on would make every difference a draw of new masks: the band would be 'bug'."""
    result = check(build(compose(overrides)), after=3)
    assert result["band"] == "fine", result["layers"]
    assert result["after"] == 3 and set(result["layers"]) == set(result["bands"])


def test_the_cost_holds_the_l2_term_the_optimizer_applies():
    setup = build(compose([*SMALL, "optimizer.weight_decay=0.3"]))
    module = setup.module.double()
    batch = {k: v[:5].double() if v.is_floating_point() else v[:5] for k, v in setup.splits["train"].items()}
    weights = sum((p ** 2).sum() for p in module.parameters() if p.ndim > 1)
    assert (cost(module, batch, 0.3) - cost(module, batch, 0.0)).item() == pytest.approx(0.15 * weights.item())


def test_the_command_prints_json_and_refuses_bad_options():
    result = invoke("gradcheck", *SMALL, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"overall", "band", "layers"} and out["band"] == "fine"
    refused = invoke("gradcheck", *SMALL, "--batch", "0")
    assert refused.exit_code == 2 and refused.stderr.strip() == \
        "dltool: error: --batch must be an integer in [1, inf), got 0"
    with pytest.raises(UserError, match="--eps must be a number in"):
        check(build(compose(SMALL)), eps=0)
