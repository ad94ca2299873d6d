"""The hand-written PyTorch loop that the benchmarks measure dltool against: the baseline, written once."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def train_by_hand(net, opt, x, y, x_dev, y_dev, epochs: int, batch: int, seed: int, bf16: bool = False) -> list[float]:
    """Shuffled mini-batches over in-memory tensors (on whatever device they are), one dev-error pass an epoch;
    ``bf16``: bf16 autocast, as mixed precision on a GPU runs. Returns the dev errors."""
    shuffle, errors, n = torch.Generator().manual_seed(seed), [], len(y)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=shuffle).to(x.device)
        for lo in range(0, n, batch):
            idx = perm[lo:lo + batch]
            with autocast:
                loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad(), autocast:
            errors.append((net(x_dev).argmax(dim=1) != y_dev).float().mean().item())
    return errors
