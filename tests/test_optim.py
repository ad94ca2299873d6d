from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.optim import build_optimizer, build_scheduler, same_groups


def quadratic_steps(cfg: dict, grads: list[float]) -> list[float]:
    """Feed a one-weight model the given gradients (loss = g * w) and record w after each step."""
    w = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(w.weight)
    opt = build_optimizer(w, cfg)
    out = []
    for g in grads:
        opt.zero_grad()
        (w.weight.sum() * g).backward()
        opt.step()
        out.append(w.weight.item())
    return out


def test_momentum_is_the_courses_exponentially_weighted_average():
    beta, lr, grads = 0.9, 0.1, [1.0, 2.0, -1.0]
    got = quadratic_steps({"name": "momentum", "lr": lr, "beta": beta, "weight_decay": 0.0}, grads)
    # course: v = beta v + (1 - beta) dW, W -= lr v; PyTorch starts v at the first gradient
    v, w, want = None, 0.0, []
    for g in grads:
        v = g if v is None else beta * v + (1 - beta) * g
        w -= lr * v
        want.append(w)
    assert got == pytest.approx(want)


def test_adam_and_rmsprop_take_the_configured_betas():
    net = nn.Linear(2, 2)
    adam = build_optimizer(net, {"name": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7, "weight_decay": 0})
    assert adam.defaults["betas"] == (0.8, 0.99) and adam.defaults["eps"] == 1e-7
    rms = build_optimizer(net, {"name": "rmsprop", "lr": 0.01, "beta": 0.95, "eps": 1e-8, "weight_decay": 0})
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["alpha"] == 0.95


def test_l2_decays_weights_not_biases():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = build_optimizer(net, {"name": "sgd", "lr": 0.1, "weight_decay": 0.01})
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.01 for p in g["params"]}
    assert decayed == {id(net[0].weight)}


def test_without_l2_one_group_holds_the_weights_then_the_rest():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = build_optimizer(net, {"name": "adam", "lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                "weight_decay": 0})
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 0
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in (
        net[0].weight, net[2].weight, net[0].bias, net[1].weight, net[1].bias, net[2].bias)]


@pytest.mark.parametrize("scheduler", [{"name": "cosine", "min_lr": 0.0}, {"name": "inverse_time", "decay": 0.5}])
def test_a_two_group_checkpoint_without_l2_resumes_into_one_group_step_for_step(scheduler):
    """Runs without L2 had two groups of the same settings (weights, the rest) before they had one: a checkpoint of
    then continues as the old optimizer would have."""
    import copy

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    decay = [p for p in net.parameters() if p.ndim > 1]
    rest = [p for p in net.parameters() if p.ndim <= 1]
    old = torch.optim.Adam([{"params": decay, "weight_decay": 0.0}, {"params": rest, "weight_decay": 0.0}], lr=0.1)
    old_schedule = build_scheduler(old, scheduler, max_epochs=6)

    def epoch(model, opt, schedule):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        schedule.step()

    for _ in range(2):
        epoch(net, old, old_schedule)
    saved = copy.deepcopy((net.state_dict(), old.state_dict(), old_schedule.state_dict()))
    for _ in range(3):
        epoch(net, old, old_schedule)
    resumed = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    resumed.load_state_dict(saved[0])
    new = build_optimizer(resumed, {"name": "adam", "lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                    "weight_decay": 0})
    new_schedule = build_scheduler(new, scheduler, max_epochs=6)
    optimizer_state, scheduler_state = same_groups(saved[1], saved[2], new)
    new.load_state_dict(optimizer_state)
    new_schedule.load_state_dict(scheduler_state)
    for _ in range(3):
        epoch(resumed, new, new_schedule)
    assert new.param_groups[0]["lr"] == old.param_groups[0]["lr"]
    for a, b in zip(net.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError):  # what same_groups mends: the two-group state as it is does not load
        build_optimizer(resumed, {"name": "sgd", "lr": 0.1, "weight_decay": 0}).load_state_dict(saved[1])


def test_states_of_other_groups_pass_as_they_are():
    net = nn.Linear(3, 2)
    two = build_optimizer(net, {"name": "sgd", "lr": 0.1, "weight_decay": 0.01})
    state = two.state_dict()
    assert same_groups(state, None, two) == (state, None)
    one = build_optimizer(net, {"name": "sgd", "lr": 0.1, "weight_decay": 0})
    assert same_groups(one.state_dict(), None, one) == (one.state_dict(), None)


def lrs(scheduler_cfg: dict, epochs: int = 5, max_epochs: int = 4) -> list[float]:
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    sched = build_scheduler(opt, scheduler_cfg, max_epochs)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradients: a no-op, but the order PyTorch expects
        if sched:
            sched.step()
    return out


@pytest.mark.parametrize(
    "cfg,want",
    [
        ({"name": "none"}, [1, 1, 1, 1, 1]),
        ({"name": "inverse_time", "decay": 1.0}, [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]),  # lr0 / (1 + decay * epoch)
        ({"name": "exponential", "gamma": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625]),
        ({"name": "step", "step_size": 2, "gamma": 0.1}, [1, 1, 0.1, 0.1, 0.01]),
        ({"name": "cosine", "min_lr": 0.0}, [1, 0.8535534, 0.5, 0.1464466, 0.0]),
    ],
)
def test_learning_rate_schedules(cfg, want):
    assert lrs(cfg) == pytest.approx(want)


@pytest.mark.parametrize(
    "cfg,message",
    [
        ({"name": "adam", "lr": -0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0}, "optimizer.lr must be"),
        ({"name": "momentum", "lr": 0.1, "beta": 1.0, "weight_decay": 0}, r"optimizer.beta must be a number in \[0, 1\)"),
        ({"name": "sgd", "lr": 0.1, "weight_decay": -1}, "optimizer.weight_decay must be"),
        ({"name": "sgd", "lr": "fast", "weight_decay": 0}, "optimizer.lr must be a number"),
    ],
)
def test_bad_optimizer_values(cfg, message):
    with pytest.raises(UserError, match=message):
        build_optimizer(nn.Linear(1, 1), cfg)
