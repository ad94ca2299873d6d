"""Digits on a canvas: scikit-learn's 8x8 digits, scaled, placed at random on a larger noisy image, with the per-pixel
mask (background and one class per digit) and the boxes. Generated from ``data.seed``; nothing is downloaded.

For each of ``n`` images, between ``digits[0]`` and ``digits[1]`` digits are drawn from the 1,797 of
``sklearn.datasets.load_digits``, each scaled to ``8 * s`` pixels (s uniform in ``scale``, bilinear), turned by an
angle uniform in [-rotate, rotate] degrees (so that the 1,797 glyphs come in endless variants), and placed at a
uniform position inside the canvas: of up to ``PLACEMENTS`` positions drawn, the first where at most ``overlap`` of
its square lies on the squares placed before (else the one that overlaps least). Digits may overlap, the later on
top. A pixel of a digit is the digit's (its
class ``1 + digit`` in the mask) where the scaled intensity is at least ``threshold`` of the maximum, 16; the image is
the brightest digit intensity at each pixel (in [0, 1]) plus Gaussian noise of std ``noise``.

Arrays: ``x`` (n, 1, size, size) float32; ``y`` the mask (n, size, size) int64 with 0 = background; ``boxes``
(n, digits[1], 5) float32 rows of ``class, x0, y0, x1, y1`` (the digit's class 0-9 and the tight box of its mask
pixels, inclusive pixel corners, x along the width), padded with rows of -1; ``labels`` (n, 10) int64, 1 where a
digit shows in the image (some pixel of its class in the mask), else 0: course 3's several labels an image, as a
street scene holds pedestrians, cars and stop signs or not. With ``data.target=labels`` these are the targets ``y``
(for task=multilabel), each entry hidden (-1, unknown) with probability ``data.hidden``; with ``data.target=boxes``
the boxes are (for task=detect, as int64: the corners are whole pixels). A digit's 8x8 image recurs across
canvases (there are 1,797), in other places, sizes and company.
"""

from __future__ import annotations

import numpy as np

from dltool.data import Pools
from dltool.errors import UserError, check_number

CLASSES = ["background", *(str(d) for d in range(10))]  # of the mask; the labels are the digits alone
TARGETS = ("mask", "labels", "boxes")
MAX_INTENSITY = 16.0  # of scikit-learn's digits
PLACEMENTS = 20  # positions tried for each digit


def _pair(value, name: str, low: float, integer: bool) -> tuple:
    if not (isinstance(value, (list, tuple)) or hasattr(value, "__len__")) or len(value) != 2:
        raise UserError(f"{name} must be a pair [min, max], got {value!r}")
    a, b = (check_number(v, name, low=low, integer=integer) for v in value)
    if a > b:
        raise UserError(f"{name} must be a pair [min, max] with min <= max, got {list(value)}")
    return a, b


def generate(n: int, size: int, digits: tuple[int, int], scale: tuple[float, float], noise: float, threshold: float,
             seed: int, overlap: float = 1.0, rotate: float = 0.0) -> dict[str, np.ndarray]:
    """The canvas data set (see the module doc) as arrays ``x``, ``y`` (masks) and ``boxes``."""
    from scipy.ndimage import rotate as turn
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    source = load_digits()
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, size, size), dtype=np.float32)
    y = np.zeros((n, size, size), dtype=np.int64)
    boxes = np.full((n, digits[1], 5), -1.0, dtype=np.float32)
    for i in range(n):
        taken = np.zeros((size, size), dtype=bool)  # the squares of the digits placed so far
        for j in range(rng.integers(digits[0], digits[1] + 1)):
            k = rng.integers(len(source.images))
            side = max(1, round(8 * rng.uniform(*scale)))
            glyph = zoom(source.images[k], side / 8, order=1)[:side, :side]
            angle = rng.uniform(-rotate, rotate)
            if rotate:  # the turned glyph's square grows to hold it; never past the canvas
                glyph = turn(glyph, angle, reshape=True, order=1)[:size, :size]
            glyph = np.clip(glyph, 0, MAX_INTENSITY) / MAX_INTENSITY
            h, w = glyph.shape
            best = None
            for _ in range(PLACEMENTS):
                top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
                covered = taken[top:top + h, left:left + w].mean()
                if best is None or covered < best[0]:
                    best = (covered, top, left)
                if covered <= overlap:
                    break
            _, top, left = best
            window = (slice(top, top + h), slice(left, left + w))
            taken[window] = True
            ink = glyph >= threshold
            x[i, 0][window] = np.maximum(x[i, 0][window], glyph)
            y[i][window][ink] = 1 + source.target[k]
            rows, cols = np.nonzero(ink)
            if len(rows):
                boxes[i, j] = (source.target[k], left + cols.min(), top + rows.min(), left + cols.max(), top + rows.max())
    x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    labels = np.stack([(y == 1 + d).any(axis=(1, 2)) for d in range(10)], axis=1).astype(np.int64)  # (n, 10)
    return {"x": x, "y": y, "boxes": boxes, "labels": labels}


def load(cfg) -> Pools:
    n = check_number(cfg.n, "data.n", low=20, integer=True)
    size = check_number(cfg.size, "data.size", low=8, integer=True)
    digits = _pair(cfg.digits, "data.digits", low=1, integer=True)
    scale = _pair(cfg.scale, "data.scale", low=0.5, integer=False)
    if round(8 * scale[1]) > size:
        raise UserError(f"data.scale up to {scale[1]} makes digits of {round(8 * scale[1])} pixels: more than the "
                        f"canvas (data.size={size})")
    noise = check_number(cfg.noise, "data.noise", low=0)
    threshold = check_number(cfg.threshold, "data.threshold", low=0, high=1, low_open=True)
    overlap = check_number(cfg.overlap, "data.overlap", low=0, high=1)
    rotate = check_number(cfg.rotate, "data.rotate", low=0, high=180)
    seed = check_number(cfg.seed, "data.seed", low=0, integer=True)
    if cfg.target not in TARGETS:
        raise UserError(f"unknown data.target '{cfg.target}'; choose from: {', '.join(TARGETS)}")
    hidden = check_number(cfg.hidden, "data.hidden", low=0, high=1, high_open=True)
    if hidden and cfg.target != "labels":
        raise UserError("data.hidden hides labels: it needs data.target=labels (a mask has no labels to hide)")
    arrays = generate(n, size, digits, scale, noise, threshold, seed, overlap, rotate)
    if cfg.target == "boxes":
        return Pools(arrays["x"], arrays["boxes"].astype(np.int64), CLASSES[1:], stratify=False)
    if cfg.target == "mask":
        return Pools(arrays["x"], arrays["y"], CLASSES, extra={"boxes": arrays["boxes"]}, stratify=False)
    labels = arrays["labels"].copy()
    unknown = np.random.default_rng([seed, 1]).random(labels.shape) < hidden  # its own stream: the images stay
    labels[unknown] = -1
    return Pools(arrays["x"], labels, CLASSES[1:], extra={"boxes": arrays["boxes"]}, stratify=False)
