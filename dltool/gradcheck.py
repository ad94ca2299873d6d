"""Gradient checking (course 2): backprop's gradient against the two-sided difference, in float64.

For the configured task and model, with dropout off (the course's advice: dropout makes the cost a random function)
and no augmentation, on a small batch of training examples, the cost is the task's training loss plus the L2 term the
optimizer applies, (weight_decay / 2) * sum of squared weights (biases and norm parameters are not decayed). For each
parameter tensor, on a seeded sample of its entries (all of them for small tensors), the approximation is

    d_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

and the tensor's figure the course's relative difference ||d_approx - d|| / (||d_approx|| + ||d||) over its sampled
entries (0 where both vanish); ``overall`` is the same over every sampled entry. Bands, at the geometric midpoints
between the course's marks (1e-7 fine, 1e-5 check again, 1e-3 a bug): below 1e-6 ``fine``, below 1e-4 ``check``,
else ``bug``.
"""

from __future__ import annotations

import math

from dltool.errors import UserError, check_number

BANDS = (("fine", 1e-6), ("check", 1e-4), ("bug", math.inf))


def relative_difference(approx, exact) -> float:
    """||approx - exact|| / (||approx|| + ||exact||) of two sequences of numbers; 0 when both are zero."""
    num = math.sqrt(sum((a - e) ** 2 for a, e in zip(approx, exact)))
    den = math.sqrt(sum(a * a for a in approx)) + math.sqrt(sum(e * e for e in exact))
    return num / den if den > 0 else 0.0


def band(difference: float) -> str:
    """fine, check or bug (see the module doc)."""
    return next(name for name, limit in BANDS if difference < limit)


def cost(module, batch: dict, decay: float):
    """The checked cost: the task's training loss on ``batch`` plus (decay / 2) * the squared weights (ndim > 1),
    the L2 term whose gradient the optimizer's weight decay adds."""
    loss = module.training_step(batch, 0)
    if decay:
        loss = loss + decay / 2 * sum((p ** 2).sum() for p in module.parameters() if p.requires_grad and p.ndim > 1)
    return loss


def check(setup, batch_size: int = 8, eps: float = 1e-6, sample: int = 20, after: int = 0, seed: int = 0) -> dict:
    """Gradient-check the built run ``setup`` (dltool.train.build); returns the ``gradcheck --json`` dict:
    ``{"overall", "band", "worst", "layers": {name: relative difference}, "bands": {name: band}, ...}``."""
    import torch
    from torch import nn

    check_number(batch_size, "--batch", low=1, integer=True)
    check_number(eps, "--eps", low=0, low_open=True)
    check_number(sample, "--sample", low=1, integer=True)
    check_number(after, "--after", low=0, integer=True)
    module = setup.module.cpu()  # float64 on the CPU: a gradient check needs precision, not speed
    train = {k: v.cpu() for k, v in setup.splits["train"].items()}
    n = len(train["x"])
    generator = torch.Generator().manual_seed(seed)
    if after:  # some bugs only show once the weights have moved away from their initial values
        optimizer = setup.optimizer
        module.train()
        for _ in range(after):
            idx = torch.randperm(n, generator=generator)[:setup.trainer["batch_size"]]
            loss = module.training_step({k: v[idx] for k, v in train.items()}, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    # float64, and contiguous memory: a weight is perturbed through a flat view of it (trainer.channels_last=auto lays
    # conv kernels out otherwise)
    module = module.to(torch.float64, memory_format=torch.contiguous_format)
    module.augment = {}  # the cost must be a function of the weights alone
    module.train()
    for m in module.modules():  # dropout off, in every form PyTorch has
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
        elif isinstance(m, (nn.RNNBase, nn.MultiheadAttention)):
            m.dropout = 0.0
    idx = torch.randperm(n, generator=generator)[:batch_size]
    batch = {k: v[idx] for k, v in train.items()}
    batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    decay = float(setup.cfg.optimizer.weight_decay)
    params = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    if not params:
        raise UserError("the model has no trainable parameters to check (model.freeze keeps every one fixed?)")

    module.zero_grad(set_to_none=True)
    cost(module, batch, decay).backward()
    layers, approx_all, exact_all = {}, [], []
    with torch.no_grad():
        for name, p in params:
            flat, grad = p.view(-1), p.grad.reshape(-1)
            picks = torch.randperm(flat.numel(), generator=generator)[:sample].tolist()
            approx, exact = [], []
            for i in picks:
                original = flat[i].item()
                flat[i] = original + eps
                plus = cost(module, batch, decay).item()
                flat[i] = original - eps
                minus = cost(module, batch, decay).item()
                flat[i] = original
                approx.append((plus - minus) / (2 * eps))
                exact.append(grad[i].item())
            layers[name] = relative_difference(approx, exact)
            approx_all += approx
            exact_all += exact
    overall = relative_difference(approx_all, exact_all)
    worst = max(layers, key=layers.get)
    return {"overall": overall, "band": band(overall), "worst": worst, "layers": layers,
            "bands": {name: band(d) for name, d in layers.items()}, "batch": len(idx), "eps": eps,
            "sampled": len(approx_all), "after": after}
