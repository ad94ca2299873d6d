"""The costs of neural style transfer (course 4, week 4; Gatys, Ecker & Bethge 2015, arXiv 1508.06576), pure maths.

Activations are one image's, shaped as torch makes them, ``(1, n_C, n_H, n_W)`` (or ``(n_C, n_H, n_W)``). The
normalizations are the course's:

- content: ``J_content(C, G) = 1 / (4 n_H n_W n_C) * sum (a_C - a_G)^2`` on one layer;
- style, one layer: the Gram matrix of the unrolled activations ``A`` ``(n_C, n_H n_W)`` is ``G = A A^T``, the
  correlation of every pair of channels over the positions, and
  ``J_style_layer(S, G) = 1 / (2 n_H n_W n_C)^2 * sum (G_S - G_G)^2``;
- style: ``J_style = sum_l lambda_l J_style_layer``, the course's STYLE_LAYERS coefficients ``lambda_l``;
- total: ``J(G) = alpha J_content + beta J_style`` (the course's alpha = 10, beta = 40).

No files, no printing, no state: dltool.style optimizes the image with these; the tests check them against values
worked out by hand.
"""

from __future__ import annotations

ALPHA = 10.0  # the course's weight of the content cost
BETA = 40.0  # the course's weight of the style cost


def _dims(a) -> tuple[int, int, int]:
    """(n_C, n_H, n_W) of one image's activations (1, n_C, n_H, n_W) or (n_C, n_H, n_W)."""
    if a.ndim == 4 and a.shape[0] != 1:
        raise ValueError(f"activations of one image are (1, n_C, n_H, n_W), got {tuple(a.shape)}")
    if a.ndim not in (3, 4):
        raise ValueError(f"activations must be (1, n_C, n_H, n_W) or (n_C, n_H, n_W), got {tuple(a.shape)}")
    n_c, n_h, n_w = a.shape[-3:]
    return n_c, n_h, n_w


def unroll(a):
    """``(1, n_C, n_H, n_W)`` -> ``(n_C, n_H n_W)``: one row a channel, one column a position."""
    n_c, n_h, n_w = _dims(a)
    return a.reshape(n_c, n_h * n_w)


def gram(A):
    """The Gram matrix ``A A^T`` of a matrix ``A`` (n_C, n_H n_W): entry (i, j) is the dot product of channels i and
    j over all positions, how much they fire together. Where a feature is does not enter it: that is why it
    describes style (texture, colour) and not content."""
    return A @ A.T


def content_cost(a_C, a_G):
    """``1 / (4 n_H n_W n_C) * sum (a_C - a_G)^2``: how far G's activations on one layer are from C's."""
    n_c, n_h, n_w = _dims(a_C)
    if a_G.shape != a_C.shape:
        raise ValueError(f"a_C {tuple(a_C.shape)} and a_G {tuple(a_G.shape)} differ in shape")
    return ((a_C - a_G) ** 2).sum() / (4 * n_h * n_w * n_c)


def layer_style_cost(a_S, a_G):
    """``1 / (2 n_H n_W n_C)^2 * sum (G_S - G_G)^2`` for one layer: the squared Frobenius distance of the two Gram
    matrices, normalized by the layer's size. S and G have the same shape (a Gram entry grows with the positions)."""
    n_c, n_h, n_w = _dims(a_G)
    if _dims(a_S) != (n_c, n_h, n_w):
        raise ValueError(f"a_S {tuple(a_S.shape)} and a_G {tuple(a_G.shape)} differ in shape")
    return ((gram(unroll(a_S)) - gram(unroll(a_G))) ** 2).sum() / (2 * n_h * n_w * n_c) ** 2


def style_cost(a_S: dict, a_G: dict, weights: dict):
    """``sum_l weights[l] * layer_style_cost(a_S[l], a_G[l])`` over the layers named in ``weights``."""
    if not weights:
        raise ValueError("style_cost needs at least one layer")
    return sum(w * layer_style_cost(a_S[name], a_G[name]) for name, w in weights.items())


def total_cost(j_content, j_style, alpha: float = ALPHA, beta: float = BETA):
    """``J(G) = alpha J_content + beta J_style``: alpha / beta sets how much of C's content against S's style."""
    return alpha * j_content + beta * j_style
