"""Shapes in a volume: small 3-D grids of one channel, each holding one solid shape of five classes at a random
position and size, plus Gaussian background noise. For 3-D convolutions (course 4, week 4, "1D and 3D
generalizations of models": a CT scan's slices, a video's frames, stacked into a volume); generated from
``data.seed``, nothing is downloaded.

Each of ``n`` volumes is ``size`` voxels along depth, height and width. Its shape is drawn in a continuous frame
(voxel centres at 0, 1, ..., size - 1) and a voxel is on (intensity 1) where its centre lies inside the shape, else
off (0); then Gaussian noise of std ``noise`` is added to every voxel. With ``s = size``:

- ``ball``: the voxels within radius r of the centre c, r uniform in [0.2 s, 0.35 s];
- ``shell``: a hollow ball, the voxels with r - 1.5 <= |p - c| <= r (the same r): inside it is empty;
- ``cube``: the voxels with max |p_i - c_i| <= h, half-side h uniform in [0.15 s, 0.3 s], axis-aligned;
- ``rod``: a cylinder of radius rho uniform in [1, 1.8] and length l uniform in [0.6 s, 0.9 s], along one of the
  three axes, drawn at random;
- ``cross``: three such rods through one centre, one along each axis (one rho, one l).

Every centre is uniform over the positions where the shape's bounding box lies inside the volume. Telling them apart
takes the third axis: a slice that grazes a shell is a disc, as a slice of a ball is (they differ only inside, in
the slices through the middle), a rod is a long bar in some slices and a small disc in others by its axis, and a
cross and a rod differ in the slices across the rod. The labels are balanced: ``n // 5`` or one more a
class, in a seeded random order.

Arrays: ``x`` (n, 1, size, size, size) float32, ``y`` (n,) int64, the index of the class in ``CLASSES``.
"""

from __future__ import annotations

import numpy as np

from dltool.data import Pools
from dltool.errors import check_number

CLASSES = ["ball", "shell", "cube", "rod", "cross"]
SHELL = 1.5  # the shell's thickness in voxels
BALL = (0.2, 0.35)  # the radius of a ball or a shell, as fractions of the size
CUBE = (0.15, 0.3)  # a cube's half-side, as fractions of the size
ROD_RADIUS = (1.0, 1.8)  # in voxels
ROD_LENGTH = (0.6, 0.9)  # as fractions of the size


def _centre(rng, size: int, half: np.ndarray) -> np.ndarray:
    """A centre uniform over where a box of half-extents ``half`` (one an axis) fits inside the volume."""
    return rng.uniform(half, size - 1 - half)


def draw(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One noise-free volume (size, size, size) of ``kind`` (a name of ``CLASSES``), float32 in {0, 1}, and the drawn
    parameters (``centre``, and ``radius``, ``half``, ``axis``, ``length`` as the shape has them)."""
    p = np.stack(np.meshgrid(*[np.arange(size, dtype=np.float64)] * 3, indexing="ij"))  # (3, s, s, s): z, y, x
    if kind in ("ball", "shell"):
        r = rng.uniform(*BALL) * size
        c = _centre(rng, size, np.full(3, r))
        dist = np.sqrt(((p - c[:, None, None, None]) ** 2).sum(axis=0))
        on = dist <= r if kind == "ball" else (dist <= r) & (dist >= r - SHELL)
        return on.astype(np.float32), {"centre": c, "radius": r}
    if kind == "cube":
        h = rng.uniform(*CUBE) * size
        c = _centre(rng, size, np.full(3, h))
        on = (np.abs(p - c[:, None, None, None]) <= h).all(axis=0)
        return on.astype(np.float32), {"centre": c, "half": h}
    if kind in ("rod", "cross"):
        rho, length = rng.uniform(*ROD_RADIUS), rng.uniform(*ROD_LENGTH) * size
        axes = [int(rng.integers(3))] if kind == "rod" else [0, 1, 2]
        half = np.full(3, length / 2 if kind == "cross" else rho)
        if kind == "rod":
            half[axes[0]] = length / 2
        c = _centre(rng, size, half)
        d = p - c[:, None, None, None]
        on = np.zeros((size,) * 3, dtype=bool)
        for a in axes:
            across = np.sqrt(sum(d[b] ** 2 for b in range(3) if b != a))
            on |= (across <= rho) & (np.abs(d[a]) <= length / 2)
        return on.astype(np.float32), {"centre": c, "radius": rho, "length": length, "axis": axes[0] if kind == "rod"
                                       else None}
    raise ValueError(f"unknown shape {kind!r}")


def generate(n: int, size: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """The volumes data set (see the module doc) as arrays ``x`` (n, 1, s, s, s) and ``y`` (n,)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    x = np.empty((n, 1, size, size, size), dtype=np.float32)
    for i, label in enumerate(y):
        x[i, 0] = draw(CLASSES[label], size, rng)[0]
    x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    return {"x": x, "y": y}


def load(cfg) -> Pools:
    n = check_number(cfg.n, "data.n", low=len(CLASSES) * 4, integer=True)
    size = check_number(cfg.size, "data.size", low=12, high=64, integer=True)  # from 12 a shell's inside is empty
    noise = check_number(cfg.noise, "data.noise", low=0)
    seed = check_number(cfg.seed, "data.seed", low=0, integer=True)
    arrays = generate(n, size, noise, seed)
    return Pools(arrays["x"], arrays["y"], list(CLASSES))
