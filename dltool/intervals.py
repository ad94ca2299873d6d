"""Intervals of error rates measured on finite splits (course 3: a dev set big enough to tell apart the differences
you care about): the Wilson score interval of a proportion, Newcombe's interval of a difference of two, and the size
that resolves a difference. Pure maths; tested against scipy and Newcombe's (1998) worked examples."""

from __future__ import annotations

import math

Z = 1.959963984540054  # the two-sided 95 % quantile of the normal distribution


def wilson(error: float, n: int, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``error`` measured on ``n`` examples."""
    if n <= 0:
        return 0.0, 1.0
    centre = (error + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(error * (1 - error) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(p1: float, n1: int, p2: float, n2: int, z: float = Z) -> tuple[float, float]:
    """Newcombe's interval for p1 - p2, two proportions of independent samples of sizes n1 and n2."""
    l1, u1 = wilson(p1, n1, z)
    l2, u2 = wilson(p2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def resolving_size(p1: float, p2: float, gap: float, z: float = Z) -> int:
    """Examples each of two splits need for a difference ``gap`` between error rates near p1 and p2 to stand out
    from noise at 95 % (the normal approximation: z^2 (p1 (1 - p1) + p2 (1 - p2)) / gap^2)."""
    return math.ceil(z * z * (p1 * (1 - p1) + p2 * (1 - p2)) / (gap * gap))


def noisy(intervals: dict | None) -> set[str]:
    """The gaps whose interval holds 0: not distinguishable from noise."""
    return {k for k, iv in (intervals or {}).items() if iv is not None and iv[0] <= 0 <= iv[1]}
