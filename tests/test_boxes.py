from __future__ import annotations

import numpy as np
import pytest
import torch

from dltool.boxes import iou, kmeans_anchors, nms, nms_per_class, shape_iou


def test_iou_of_worked_examples():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0],   # overlap 1x1 of 4 + 4 - 1: 1/7
                      [0.0, 0.0, 2.0, 2.0],   # the same box: 1
                      [2.0, 0.0, 4.0, 2.0],   # touching along an edge: 0
                      [0.0, 0.0, 1.0, 2.0],   # half of it: 2/4
                      [5.0, 5.0, 5.0, 5.0]])  # an empty box far off: 0
    assert iou(a, b)[0].tolist() == pytest.approx([1 / 7, 1.0, 0.0, 0.5, 0.0])
    assert iou(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0  # two empty boxes: 0, not nan


def test_iou_agrees_with_pycocotools():
    from pycocotools import mask

    g = torch.Generator().manual_seed(0)
    corner = torch.rand(7, 2, generator=g) * 20
    a = torch.cat([corner, corner + 1 + torch.rand(7, 2, generator=g) * 10], dim=1)
    corner = torch.rand(5, 2, generator=g) * 20
    b = torch.cat([corner, corner + 1 + torch.rand(5, 2, generator=g) * 10], dim=1)
    xywh = lambda boxes: np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]].astype(np.float64)
    theirs = mask.iou(xywh(a.numpy()), xywh(b.numpy()), [0] * len(b))
    assert iou(a, b).numpy() == pytest.approx(theirs, abs=1e-6)
    assert (theirs > 0).sum() >= 5  # the random boxes overlap: a test of something


def test_nms_follows_the_course_algorithm():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0],    # 0: score 0.6
                          [1.0, 1.0, 11.0, 11.0],    # 1: 0.9, the best; IoU with 0 = 81/119 = 0.68
                          [0.0, 0.0, 10.0, 5.0],     # 2: 0.7; IoU with 1 = 36/114 = 0.32, kept at 0.5
                          [20.0, 20.0, 30.0, 30.0]])  # 3: 0.8, alone
    scores = torch.tensor([0.6, 0.9, 0.7, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 2]
    assert nms(boxes, scores, 0.3).tolist() == [1, 3]  # 0.32 >= 0.3: box 2 suppressed too
    assert nms(boxes, scores, 1.0).tolist() == [1, 3, 2, 0]  # nothing overlaps completely: all kept, by score


def test_nms_per_class_lets_classes_overlap():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [0.0, 0.0, 10.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms_per_class(boxes, scores, torch.tensor([3, 3, 8]), 0.5).tolist() == [0, 2]  # 1 under 0; 2 is an 8
    assert nms_per_class(boxes[:0], scores[:0], torch.zeros(0, dtype=torch.long), 0.5).tolist() == []


def test_shape_iou_compares_shapes_wherever_the_boxes_are():
    got = shape_iou(torch.tensor([[2.0, 4.0]]), torch.tensor([[2.0, 4.0], [4.0, 2.0], [1.0, 1.0]]))
    assert got[0].tolist() == pytest.approx([1.0, 4 / 12, 1 / 8])


def test_kmeans_anchors_find_the_shapes_of_clustered_boxes():
    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[4.0, 12.0], [12.0, 4.0], [20.0, 20.0]])
    wh = torch.cat([s * (1 + 0.05 * torch.randn(100, 2, generator=g)) for s in shapes])
    anchors = kmeans_anchors(wh, 3, seed=0)
    assert anchors[2].tolist() == pytest.approx([20.0, 20.0], rel=0.05)  # sorted by area: the square last
    thin = sorted(anchors[:2].tolist())  # the two of area 48, either order
    assert thin[0] == pytest.approx([4.0, 12.0], rel=0.05) and thin[1] == pytest.approx([12.0, 4.0], rel=0.05)
    assert torch.equal(kmeans_anchors(wh, 3, seed=0), anchors)  # seeded
    assert kmeans_anchors(wh[:1], 2, seed=0).tolist() == [wh[0].tolist()] * 2  # one shape, two anchors: repeated
