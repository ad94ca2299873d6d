"""The hand-written PyTorch loop that the benchmarks measure dltool against: the baseline, written once."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def train_by_hand(net, opt, x, y, x_dev, y_dev, epochs: int, batch: int, seed: int) -> list[float]:
    """Shuffled mini-batches over in-memory tensors, one dev-error pass an epoch; returns the dev errors."""
    shuffle, errors, n = torch.Generator().manual_seed(seed), [], len(y)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=shuffle)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            errors.append((net(x_dev).argmax(dim=1) != y_dev).float().mean().item())
    return errors
