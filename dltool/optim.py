"""Optimizers and learning-rate schedules of course 2, built from the ``optimizer`` and ``scheduler`` config groups."""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_number, choices

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
FUSED = ("sgd", "momentum", "adam")  # PyTorch has a fused (one-kernel) step for these
SCHEDULERS = ("none", "inverse_time", "exponential", "step", "cosine")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """L2 applies to weights (matrices and kernels) only, as in the course; biases and norm parameters are not decayed.
    Without L2, one group: a second group of the same settings cost 10-35 us a step of a small MLP (Adam, CPU), for
    nothing. Its parameters come in the two groups' order (weights first), so that a checkpoint written with two
    groups resumes (``same_groups``)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    if weight_decay == 0:
        return [{"params": decay + rest, "weight_decay": 0.0}]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def same_groups(optimizer_state: dict, scheduler_state: dict | None, optimizer: torch.optim.Optimizer) -> tuple:
    """A checkpoint's optimizer and scheduler states as ``optimizer``'s groups hold them: a run without L2 written
    when it still had two groups of the same settings (weights, the rest) has them as one. Anything else as it is."""
    groups = optimizer_state["param_groups"]
    if len(optimizer.param_groups) != 1 or len(groups) != 2 or any(g["weight_decay"] != 0 for g in groups):
        return optimizer_state, scheduler_state
    one = {**groups[0], "params": groups[0]["params"] + groups[1]["params"]}  # indices of the weights, then the rest
    if scheduler_state is not None:  # per-group lists (base_lrs, _last_lr, lr_lambdas): the first group's
        scheduler_state = {k: v[:1] if isinstance(v, list) and len(v) == 2 else v for k, v in scheduler_state.items()}
    return {**optimizer_state, "param_groups": [one]}, scheduler_state


def build_optimizer(model: nn.Module, cfg: dict, fused: bool = False) -> torch.optim.Optimizer:
    """``cfg`` is the optimizer group as a dict: name, lr, weight_decay and the optimizer's own betas and eps;
    ``fused``: one kernel for the whole step (sgd, momentum, adam), what a GPU runs fastest."""
    name = cfg["name"]
    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer '{name}'; choose from: {choices(OPTIMIZERS)}")
    lr = check_number(cfg["lr"], "optimizer.lr", low=0, low_open=True)
    groups = param_groups(model, check_number(cfg["weight_decay"], "optimizer.weight_decay", low=0))
    kernel = {"fused": True} if fused else {}
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, **kernel)
    if name == "momentum":
        beta = _beta(cfg, "beta")
        # dampening = beta turns PyTorch's v = beta*v + g into the course's v = beta*v + (1-beta)*g.
        return torch.optim.SGD(groups, lr=lr, momentum=beta, dampening=beta, **kernel)
    eps = check_number(cfg["eps"], "optimizer.eps", low=0, low_open=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=_beta(cfg, "beta"), eps=eps)
    return torch.optim.Adam(groups, lr=lr, betas=(_beta(cfg, "beta1"), _beta(cfg, "beta2")), eps=eps, **kernel)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: dict, max_epochs: int):
    """A per-epoch learning-rate schedule, or None for a constant rate."""
    name = cfg["name"]
    if name not in SCHEDULERS:
        raise UserError(f"unknown scheduler '{name}'; choose from: {choices(SCHEDULERS)}")
    sched = torch.optim.lr_scheduler
    if name == "none":
        return None
    if name == "inverse_time":
        decay = check_number(cfg["decay"], "scheduler.decay", low=0)
        return sched.LambdaLR(optimizer, lambda epoch: 1.0 / (1.0 + decay * epoch))
    if name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=check_number(cfg["gamma"], "scheduler.gamma", low=0, low_open=True))
    if name == "step":
        step_size = check_number(cfg["step_size"], "scheduler.step_size", low=1, integer=True)
        gamma = check_number(cfg["gamma"], "scheduler.gamma", low=0, low_open=True)
        return sched.StepLR(optimizer, step_size=step_size, gamma=gamma)
    min_lr = check_number(cfg["min_lr"], "scheduler.min_lr", low=0)
    return sched.CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=min_lr)


def _beta(cfg: dict, key: str) -> float:
    return check_number(cfg[key], f"optimizer.{key}", low=0, high=1, high_open=True)
