"""scikit-learn's 8x8 handwritten digits, shipped inside scikit-learn: images of shape (1, 8, 8)."""

from __future__ import annotations

from dltool.data import Pools


def load(cfg) -> Pools:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Pools(digits.images[:, None, :, :], digits.target, [str(c) for c in digits.target_names])
