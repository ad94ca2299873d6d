"""Object detection, YOLO style (course 4; Redmon et al. 2016 and YOLO9000, 2017). The net (dltool.models.yolo)
puts out, for each of S x S grid cells and each of A anchor boxes, ``(t_o, t_x, t_y, t_w, t_h, c_1 .. c_K)``; the
labels ``y`` are boxes, (B, M, 5) rows of ``class, x0, y0, x1, y1`` (inclusive pixel corners, rows of -1 padding;
dltool.data.canvas with ``data.target=boxes``).

The course's encoding: p_c = sigmoid(t_o) says an object's centre lies in the cell; b_x, b_y = sigmoid(t_x),
sigmoid(t_y) place that centre inside the cell (0 to 1); b_w, b_h = anchor_w exp(t_w), anchor_h exp(t_h) are the
width and height in cells (above 1 for an object larger than its cell). A true box is the job of one cell (where its
centre falls) and one anchor (the one whose shape it overlaps most, ``dltool.boxes.shape_iou``). The anchors are
``anchors`` shapes chosen by k-means on the training boxes with the distance 1 - IoU (``dltool.boxes.kmeans_anchors``),
kept in ``info`` (so in every checkpoint).

Loss, per image: ``coord`` x the squared error of (b_x, b_y) and of (t_w, t_h) against log(w / anchor_w),
log(h / anchor_h) of the responsible anchors; the logistic loss of p_c, 1 there; ``noobj`` x the logistic loss of
p_c, 0 at every other anchor; the cross-entropy of the classes where an object is. (YOLO's parts; logistic for p_c
and softmax for the class as in YOLO9000, where the 2016 paper had squared errors.)

Decoding (``decode``): a box's score is p_c times its class's probability (the course's p_c c_i); boxes scoring at
least ``score_threshold`` go through non-max suppression per class at IoU ``nms`` (null: none), and the best
``max_boxes`` an image stay. Figures per split (``mean_ap``): pycocotools' COCOeval, the reference implementation, on
the decoded boxes: ``map50`` (AP at IoU 0.5, averaged over the classes), ``map`` (over IoU 0.5 to 0.95),
``recall`` (COCO's AR: the recall at up to 100 boxes an image, averaged over IoU 0.5 to 0.95 and classes), ``ap``
per class; ``error`` = 1 - map50.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
import torch.nn.functional as F

from dltool.boxes import kmeans_anchors, nms_per_class, shape_iou
from dltool.errors import UserError, check_number
from dltool.tasks.base import Task

MAX_LOG_SCALE = 4.0  # t_w, t_h are clamped here before exp: e^4 = 55 anchors wide, past any image


def box_sizes(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) widths and heights in pixels of the real rows of ``boxes`` (..., 5) (inclusive pixel corners)."""
    rows = boxes.reshape(-1, 5)
    rows = rows[rows[:, 0] >= 0]
    return np.stack([rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1], axis=1).astype(np.float64)


def targets(boxes: torch.Tensor, anchors: torch.Tensor, grid: int, cell: float) -> dict[str, torch.Tensor]:
    """What each (image, row, column, anchor) should put out for the true ``boxes`` (B, M, 5): ``obj`` (B, S, S, A)
    where an object is, and there ``xy`` (its centre in the cell, 0 to 1), ``wh`` (log of its size over the
    anchor's) and ``cls``. ``anchors`` (A, 2) are in pixels (their dtype, the targets'), ``cell`` the pixels a cell spans."""
    b, _, _ = boxes.shape
    a, dtype = len(anchors), anchors.dtype
    obj = torch.zeros(b, grid, grid, a, dtype=torch.bool, device=boxes.device)
    xy = torch.zeros(b, grid, grid, a, 2, dtype=dtype, device=boxes.device)
    wh = torch.zeros(b, grid, grid, a, 2, dtype=dtype, device=boxes.device)
    cls = torch.zeros(b, grid, grid, a, dtype=torch.long, device=boxes.device)
    image, slot = torch.nonzero(boxes[..., 0] >= 0, as_tuple=True)
    if not len(image):
        return {"obj": obj, "xy": xy, "wh": wh, "cls": cls}
    rows = boxes[image, slot].to(dtype)
    size = torch.stack([rows[:, 3] - rows[:, 1] + 1, rows[:, 4] - rows[:, 2] + 1], dim=1)  # (N, 2) pixels
    centre = torch.stack([rows[:, 1] + rows[:, 3] + 1, rows[:, 2] + rows[:, 4] + 1], dim=1) / 2 / cell  # in cells
    col, row = centre.floor().long().clamp(0, grid - 1).unbind(dim=1)
    best = shape_iou(size, anchors.to(size)).argmax(dim=1)
    where = (image, row, col, best)  # two objects for one cell and anchor: the later one (one output, one object)
    obj[where] = True
    xy[where] = centre - torch.stack([col, row], dim=1)
    wh[where] = torch.log(size / anchors.to(size)[best])
    cls[where] = rows[:, 0].long()
    return {"obj": obj, "xy": xy, "wh": wh, "cls": cls}


def split_outputs(out: torch.Tensor, a: int) -> torch.Tensor:
    """The net's (B, A (5 + K), S, S) as (B, S, S, A, 5 + K)."""
    b, channels, s, _ = out.shape
    return out.reshape(b, a, channels // a, s, s).permute(0, 3, 4, 1, 2)


def decode(out: torch.Tensor, anchors: torch.Tensor, image_size: int, score_threshold: float, nms: float | None,
           max_boxes: int) -> torch.Tensor:
    """The net's outputs (B, A (5 + K), S, S) as (B, max_boxes, 6) rows of ``class, score, x0, y0, x1, y1`` (pixel
    coordinates, continuous), best first, padded with rows of -1 (see the module doc)."""
    p = split_outputs(out.float(), len(anchors))
    b, s = p.shape[0], p.shape[1]
    cell = image_size / s
    offsets = torch.stack(torch.meshgrid(torch.arange(s), torch.arange(s), indexing="xy"), dim=-1).to(p)  # (S,S,2)
    centre = (offsets[:, :, None, :] + torch.sigmoid(p[..., 1:3])) * cell  # (B, S, S, A, 2) pixels
    size = anchors.to(p) * torch.exp(p[..., 3:5].clamp(max=MAX_LOG_SCALE))
    corners = torch.cat([centre - size / 2, centre + size / 2], dim=-1).reshape(b, -1, 4)
    probability, cls = torch.softmax(p[..., 5:], dim=-1).max(dim=-1)
    score = (torch.sigmoid(p[..., 0]) * probability).reshape(b, -1)
    cls = cls.reshape(b, -1)
    rows = torch.full((b, max_boxes, 6), -1.0, device=out.device)
    for i in range(b):
        idx = torch.nonzero(score[i] >= score_threshold).flatten()
        if nms is not None:
            idx = idx[nms_per_class(corners[i, idx].cpu(), score[i, idx].cpu(), cls[i, idx].cpu(), nms).to(idx.device)]
        else:
            idx = idx[torch.sort(score[i, idx], descending=True, stable=True).indices]
        idx = idx[:max_boxes]
        rows[i, :len(idx)] = torch.cat([cls[i, idx, None].float(), score[i, idx, None], corners[i, idx]], dim=1)
    return rows


def mean_ap(detections: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict:
    """COCOeval (pycocotools) on ``detections`` (N, D, 6) rows of class, score, x0, y0, x1, y1 and the true boxes
    ``truth`` (N, M, 5) of the same N images: map50, map, recall and the AP at IoU 0.5 of each class (None for a
    class that no image holds)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    k = len(classes)
    image, slot = np.nonzero(truth[..., 0] >= 0)
    t = truth[image, slot].astype(np.float64)
    gt = COCO()
    w, h = t[:, 3] - t[:, 1] + 1, t[:, 4] - t[:, 2] + 1
    gt.dataset = {"images": [{"id": int(i)} for i in range(len(truth))],
                  "categories": [{"id": c} for c in range(k)],
                  "annotations": [{"id": j + 1, "image_id": int(i), "category_id": int(c), "iscrowd": 0,
                                   "bbox": [float(x), float(y), float(bw), float(bh)], "area": float(bw * bh)}
                                  for j, (i, c, x, y, bw, bh) in enumerate(zip(image, t[:, 0], t[:, 1], t[:, 2], w, h))]}
    image, slot = np.nonzero(detections[..., 0] >= 0)
    d = detections[image, slot].astype(np.float64)
    present = set(t[:, 0].astype(int).tolist())
    if not len(d) or not len(t):
        return {"map50": 0.0, "map": 0.0, "recall": 0.0,
                "ap": {name: (0.0 if c in present else None) for c, name in enumerate(classes)}}
    results = np.stack([image, d[:, 2], d[:, 3], d[:, 4] - d[:, 2], d[:, 5] - d[:, 3], d[:, 1], d[:, 0]], axis=1)
    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints its progress
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        params = evaluation.params
        params.imgIds = list(range(len(truth)))
        # one range of areas, all boxes (COCO's small / medium / large would match every image four times), and
        # up to 100 boxes an image; summarize() wants all four ranges, so the means are taken here as it takes them
        params.areaRng, params.areaRngLbl, params.maxDets = [[0, 1e10]], ["all"], [100]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, 0]  # (IoU thresholds 0.5:0.95, recall points, classes)
    recall = evaluation.eval["recall"][:, :, 0, 0]  # (IoU thresholds, classes)

    def mean(values: np.ndarray) -> float:  # over the entries COCOeval filled (-1: a class no image holds)
        return float(values[values > -1].mean()) if (values > -1).any() else 0.0

    ap = {name: (mean(precision[0, :, c]) if c in present else None) for c, name in enumerate(classes)}
    return {"map50": mean(precision[0]), "map": mean(precision), "recall": mean(recall), "ap": ap}


class Detect(Task):
    """Args (beside the base Task's), see the module doc: anchors (A), coord and noobj (the loss's weights),
    score_threshold, nms (IoU of the suppression; null = off), max_boxes (kept an image)."""

    name = "detect"
    row_sums = ("detections", "truth")

    def __init__(self, *args, anchors: int = 5, coord: float = 5.0, noobj: float = 0.5, score_threshold: float = 0.05,
                 nms: float | None = 0.5, max_boxes: int = 20, **kwargs):
        super().__init__(*args, **kwargs)
        if self.augment:
            raise UserError("data.augment moves an image but not its boxes: it applies to task=classify only")
        check_number(anchors, "task.anchors", low=1, integer=True)
        self.coord = check_number(coord, "task.coord", low=0)
        self.noobj = check_number(noobj, "task.noobj", low=0)
        self.score_threshold = check_number(score_threshold, "task.score_threshold", low=0, high=1)
        self.nms = None if nms is None else check_number(nms, "task.nms", low=0, high=1, low_open=True)
        self.max_boxes = check_number(max_boxes, "task.max_boxes", low=1, integer=True)
        self.register_buffer("anchors", torch.tensor(self.info["anchors"], dtype=torch.float32), persistent=False)

    @staticmethod
    def outputs(info: dict, anchors: int = 5, **args) -> int:
        return anchors * (5 + len(info["classes"]))

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not (x.ndim == 4 and y.ndim == 3 and y.shape[2] == 5):
            raise UserError(f"task detect needs images with boxes (rows of class, x0, y0, x1, y1), e.g. data=canvas "
                            f"data.target=boxes; this data has inputs {tuple(x.shape[1:])} and labels "
                            f"{tuple(y.shape[1:])}")
        if not (y[..., 0] >= 0).any():
            raise UserError("task detect needs boxes to learn from: the training split has none")

    @staticmethod
    def learn(data, seed: int, anchors: int = 5, **args) -> dict:
        """The anchor shapes (pixels) by k-means on the training boxes, seeded by the run's seed."""
        check_number(anchors, "task.anchors", low=1, integer=True)
        sizes = torch.from_numpy(box_sizes(data.splits["train"]["y"]))
        return {"anchors": kmeans_anchors(sizes, anchors, seed).tolist()}

    def loss(self, out: torch.Tensor, batch: dict) -> torch.Tensor:
        out = out.to(torch.promote_types(out.dtype, torch.float32))  # bf16 up to float32; float64 (gradcheck) stays
        return self._loss_sum(out, batch["y"], batch["x"].shape[-1]) / len(out)

    def _loss_sum(self, out: torch.Tensor, boxes: torch.Tensor, image_size: int) -> torch.Tensor:
        p = split_outputs(out, len(self.anchors))
        t = targets(boxes, self.anchors.to(p.dtype), p.shape[1], image_size / p.shape[1])
        obj = t["obj"]
        coord = ((torch.sigmoid(p[..., 1:3][obj]) - t["xy"][obj]) ** 2).sum() + ((p[..., 3:5][obj] - t["wh"][obj]) ** 2).sum()
        found = F.binary_cross_entropy_with_logits(p[..., 0][obj], torch.ones_like(p[..., 0][obj]), reduction="sum")
        empty = F.binary_cross_entropy_with_logits(p[..., 0][~obj], torch.zeros_like(p[..., 0][~obj]), reduction="sum")
        cls = F.cross_entropy(p[..., 5:][obj], t["cls"][obj], reduction="sum")
        return self.coord * coord + found + self.noobj * empty + cls

    def decode(self, out: torch.Tensor, image_size: int) -> torch.Tensor:
        return decode(out, self.anchors, image_size, self.score_threshold, self.nms, self.max_boxes)

    def sums(self, out: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        size = batch["x"].shape[-1]
        return {"loss": self._loss_sum(out, batch["y"], size), "detections": self.decode(out, size),
                "truth": batch["y"]}

    def summarize(self, totals: dict, n: int) -> dict:
        figures = mean_ap(totals["detections"], totals["truth"], self.info["classes"])
        return {"error": 1 - figures["map50"], "loss": totals["loss"] / n if n else 0.0, "n": n, **figures}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each image's boxes, (B, max_boxes, 6) rows of class, score, x0, y0, x1, y1 (-1 rows: none), and the score
        of its best box as its confidence."""
        rows = self.decode(self(x), x.shape[-1])
        return {"boxes": rows, "confidence": rows[:, 0, 1].clamp(min=0)}


TASK = Detect
