"""Strings of spoken-like digits for CTC recognition (course 5's speech recognition, on MNIST-1D): each example is one
long 1-D signal of several MNIST-1D digits laid end to end, with random gaps and noise between them, and its label is
the digit string (which digits, in order; not where they are: CTC learns the alignment).

The digits are MNIST-1D examples generated locally by the ``mnist1d`` package (dltool.data.mnist1d.generate: no
download, cached as .npz), each used at most once, so that no digit's waveform appears in two splits. Per string
(seeded by ``data.seed``): the count of digits, uniform in ``digits`` [min, max]; a gap of ``gap`` [min, max] zero
frames before each digit; the rest of the ``length`` frames zero; then Gaussian noise of std ``noise`` on every
frame. ``length`` null = max digits x 40 + (max digits + 1) x max gap, the longest string's frames.

Labels ``y``: (n, max digits) int64 digit indices 0-9 padded with ``PAD`` (-1). ``info``: ``classes`` "0".."9",
``blank`` (the id of CTC's blank among the net's outputs, 0; digit d is output d + 1), ``pad``, ``max_digits``.
``data.target=trigger`` (task=trigger, course 5's trigger word detection): the digit ``data.trigger`` is the word,
the labels (n, length) 0/1 frames, 1 on the ``data.ones`` frames right after each trigger digit ends.
"""

from __future__ import annotations

import numpy as np

from dltool.data import Pools
from dltool.errors import UserError, check_number

PAD = -1
BLANK = 0  # the net's output 0; digit d is output d + 1
FRAMES = 40  # frames of one MNIST-1D digit (its final_seq_length)
TARGETS = ("strings", "trigger")  # data.target: the digit strings (task=ctc) or trigger frames (task=trigger)


def check_range(value, name: str, low: int) -> tuple[int, int]:
    """``[min, max]`` integers with low <= min <= max, else a UserError naming ``name``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise UserError(f"{name} must be [min, max], got {value!r}")
    lo = check_number(value[0], f"{name}[0]", low=low, integer=True)
    hi = check_number(value[1], f"{name}[1]", low=low, integer=True)
    if lo > hi:
        raise UserError(f"{name} must be [min, max] with min <= max, got [{lo}, {hi}]")
    return lo, hi


def lay_out(x: np.ndarray, y: np.ndarray, n: int, digits: tuple[int, int], gap: tuple[int, int], noise: float,
            length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` strings from the digit examples ``x`` (N, 40) with labels ``y`` (each used at most once, in order):
    signals (n, length) float32, labels (n, max digits) padded with PAD, and each digit's first frame (PAD alike)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(digits[0], digits[1] + 1, size=n)
    if counts.sum() > len(x):
        raise UserError(f"{int(counts.sum())} digits needed, {len(x)} generated")  # generate() is asked for enough
    signals = np.zeros((n, length), dtype=np.float32)
    labels = np.full((n, digits[1]), PAD, dtype=np.int64)
    starts = np.full((n, digits[1]), PAD, dtype=np.int64)
    used = 0
    for i, k in enumerate(counts):
        at = 0
        for j in range(k):
            at += int(rng.integers(gap[0], gap[1] + 1))
            signals[i, at:at + FRAMES] = x[used]
            labels[i, j], starts[i, j] = y[used], at
            at += FRAMES
            used += 1
    if noise:
        signals += rng.normal(0.0, noise, size=signals.shape).astype(np.float32)
    return signals, labels, starts


def trigger_labels(starts: np.ndarray, labels: np.ndarray, trigger: int, ones: int, length: int) -> np.ndarray:
    """(n, length) 0/1 frame labels: 1 on the ``ones`` frames right after each ``trigger`` digit ends (course 5's
    trigger word: the label rises after the word is heard), cut at the signal's end."""
    y = np.zeros((len(labels), length), dtype=np.int64)
    for i, j in zip(*np.nonzero(labels == trigger)):
        end = int(starts[i, j]) + FRAMES
        y[i, end:end + ones] = 1
    return y


def load(cfg) -> Pools:
    from omegaconf import OmegaConf

    from dltool.data.mnist1d import generate

    n = check_number(cfg.n, "data.n", low=20, integer=True)
    plain = (lambda v: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v)
    digits = check_range(plain(cfg.digits), "data.digits", low=1)
    gap = check_range(plain(cfg.gap), "data.gap", low=0)
    noise = check_number(cfg.noise, "data.noise", low=0)
    seed = check_number(cfg.seed, "data.seed", low=0, integer=True)
    longest = digits[1] * FRAMES + (digits[1] + 1) * gap[1]
    length = longest if cfg.length is None else check_number(cfg.length, "data.length", low=1, integer=True)
    if length < longest:
        raise UserError(f"data.length={length} frames cannot hold {digits[1]} digits of {FRAMES} frames with gaps of "
                        f"up to {gap[1]}: it needs at least {longest} (or null)")
    if cfg.target not in TARGETS:
        raise UserError(f"unknown data.target '{cfg.target}'; choose from: {', '.join(TARGETS)}")
    trigger = check_number(cfg.trigger, "data.trigger", low=0, high=9, integer=True)
    ones = check_number(cfg.ones, "data.ones", low=1, integer=True)
    settings = OmegaConf.to_container(cfg.generator, resolve=True) or {}
    for key in ("num_samples", "final_seq_length", "seed"):
        if key in settings:
            raise UserError(f"data.generator.{key} is set by data=digit_strings itself (data.n, data.digits, "
                            f"data.seed)")
    # as many MNIST-1D examples as the strings can use: n x max digits, each used once at most
    x, y = generate({**settings, "num_samples": n * digits[1], "final_seq_length": FRAMES, "seed": seed})
    signals, labels, starts = lay_out(x, y, n, digits, gap, noise, length, seed)
    if cfg.target == "trigger":
        frames = trigger_labels(starts, labels, trigger, ones, length)
        info = {"target": "trigger", "trigger": str(trigger), "ones": ones}
        return Pools(signals, frames, ["no", "yes"], stratify=False, info=info)
    info = {"blank": BLANK, "pad": PAD, "max_digits": digits[1]}
    return Pools(signals, labels, [str(d) for d in range(10)], stratify=False, info=info)
