"""Boxes (course 4, object detection): intersection over union, non-max suppression and anchor boxes chosen by
k-means, as small pure functions in torch.

A box is ``(x0, y0, x1, y1)`` in continuous image coordinates, x along the width, x0 <= x1 and y0 <= y1: a box of
the pixels ``[c0, c1]`` (inclusive) spans ``c0`` to ``c1 + 1``. Its area is ``(x1 - x0) * (y1 - y0)``.
"""

from __future__ import annotations

import torch


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union of the boxes ``a`` (N, 4) and ``b`` (M, 4): the area both cover over the area
    either covers; 0 where both boxes are empty."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Non-max suppression as the course writes it: take the box of highest score, discard every remaining box whose
    IoU with it is at least ``threshold``, repeat with the boxes left. Returns the indices kept, by falling score
    (ties: the lower index first)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    overlaps = iou(boxes[order], boxes[order])
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if alive[i]:
            keep.append(i)
            alive &= overlaps[i] < threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def nms_per_class(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, threshold: float) -> torch.Tensor:
    """``nms`` within each class: a box suppresses only boxes of its own class (a "3" does not hide an overlapping
    "8"). Indices kept, by falling score."""
    kept = [idx[nms(boxes[idx], scores[idx], threshold)] for c in torch.unique(classes)
            for idx in [torch.nonzero(classes == c).flatten()]]
    if not kept:
        return torch.zeros(0, dtype=torch.long)
    kept = torch.cat(kept)
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


def shape_iou(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """(N, K) IoU of boxes of widths and heights ``wh`` (N, 2) with anchors (K, 2), all centred at one point: how
    well a box's shape matches an anchor's, wherever the box is."""
    inter = torch.minimum(wh[:, None, :], anchors[None, :, :]).prod(dim=2)
    return inter / (wh.prod(dim=1)[:, None] + anchors.prod(dim=1)[None, :] - inter)


def kmeans_anchors(wh: torch.Tensor, k: int, seed: int, iterations: int = 100) -> torch.Tensor:
    """``k`` anchor shapes (k, 2) from the training boxes' widths and heights ``wh`` (N, 2) by k-means with the
    distance 1 - IoU (YOLO9000, Redmon & Farhadi 2017: Euclidean distance would let large boxes dominate). Seeded
    k-means++ start; each centre is the median of its cluster; sorted by area. Fewer distinct shapes than ``k``
    give repeated anchors."""
    wh = wh.double()
    generator = torch.Generator().manual_seed(seed)
    centres = wh[torch.randint(len(wh), (1,), generator=generator)]
    while len(centres) < k:  # k-means++: the next centre far (in 1 - IoU) from those chosen
        distance = (1 - shape_iou(wh, centres)).min(dim=1).values
        if distance.sum() <= 0:
            centres = torch.cat([centres, centres[:1]])
            continue
        centres = torch.cat([centres, wh[torch.multinomial(distance, 1, generator=generator)]])
    for _ in range(iterations):
        nearest = shape_iou(wh, centres).argmax(dim=1)
        moved = torch.stack([wh[nearest == j].median(dim=0).values if (nearest == j).any() else centres[j]
                             for j in range(k)])
        if torch.equal(moved, centres):
            break
        centres = moved
    return centres[torch.argsort(centres.prod(dim=1))].float()
