"""Data augmentation (courses 2 and 4), applied to each training batch after normalization, off by default:
random shifts (zero-filled, along the sequence, or along both image axes), Gaussian noise, and amplitude scaling.

It draws from torch's global generator, so it is seeded with the run and restored by ``--resume``.
"""

from __future__ import annotations

import torch

from dltool.errors import check_number

KEYS = ("shift", "noise", "scale")


def check(cfg: dict) -> dict:
    check_number(cfg["shift"], "data.augment.shift", low=0, integer=True)
    check_number(cfg["noise"], "data.augment.noise", low=0)
    check_number(cfg["scale"], "data.augment.scale", low=0, high=1, high_open=True)
    return cfg


def augment(x: torch.Tensor, shift: int = 0, noise: float = 0.0, scale: float = 0.0) -> torch.Tensor:
    """A randomly altered copy of the batch ``x`` (B, *example_shape); each example gets its own draw."""
    if shift:
        for dim in shift_dims(x):
            x = random_shift(x, shift, dim)
    if scale:
        factor = 1 + (torch.rand(x.shape[0], device=x.device) * 2 - 1) * scale  # U(1 - scale, 1 + scale)
        x = x * factor.view(-1, *([1] * (x.dim() - 1)))
    if noise:
        x = x + noise * torch.randn_like(x)
    return x


def shift_dims(x: torch.Tensor) -> range:
    """The axes a shift moves a batch ``x`` along: (B, L): L; (B, C, L): L; (B, C, H, W): H and W."""
    return range(2, 4) if x.dim() == 4 else range(x.dim() - 1, x.dim())  # a signal's channels never move


def random_shift(x: torch.Tensor, shift: int, dim: int) -> torch.Tensor:
    """Shift each example by its own whole number of steps in [-shift, shift] along ``dim``, filling with zeros."""
    return shift_by(x, torch.randint(-shift, shift + 1, (x.shape[0],), device=x.device), dim)


def shift_by(x: torch.Tensor, offsets: torch.Tensor, dim: int) -> torch.Tensor:
    """Example b of ``x`` shifted by ``offsets[b]`` whole steps along ``dim`` (positive: towards higher indices),
    the steps shifted in filled with zeros (in standardized units: the training mean). Test-time augmentation
    (dltool.ensemble) shifts its views with this too, as training shifted its batches."""
    n = x.shape[dim]
    source = torch.arange(n, device=x.device).view(1, n) - offsets.view(-1, 1)  # (B, n): where each step comes from
    valid = (source >= 0) & (source < n)
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[dim] = n
    index = source.clamp(0, n - 1).view(shape).expand_as(x)
    return torch.gather(x, dim, index) * valid.view(shape).to(x.dtype)
