"""Semantic segmentation (course 4): a class a pixel. The net puts out K scores a pixel, (B, K, H, W); the labels are
masks, (B, H, W), with 0 the background.

Loss: pixel-wise cross-entropy, averaged over each image's pixels, plus ``dice`` times the soft Dice loss
(1 - the mean over classes of 2 |P * T| / (|P| + |T|), on softmax probabilities; Milletari et al. 2016).
Figures per split, from the confusion counts of every pixel: IoU of class k = TP / (TP + FP + FN); ``miou`` the mean
over the classes that appear in the split's masks or predictions; ``error`` = 1 - miou; ``pixel_accuracy``; ``dice``
the mean over the same classes of 2 TP / (2 TP + FP + FN); ``iou`` per class (null for a class that appears nowhere).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.errors import UserError, check_number
from dltool.tasks.base import Task


def confusion(predicted: torch.Tensor, true: torch.Tensor, k: int) -> torch.Tensor:
    """(k, k) counts of pixels: rows the true class, columns the predicted one."""
    return torch.bincount(true.reshape(-1) * k + predicted.reshape(-1), minlength=k * k).reshape(k, k)


def scores(matrix, classes: list[str]) -> dict:
    """mIoU, pixel accuracy, mean Dice and per-class IoU from a confusion matrix (see the module doc)."""
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp  # TP + FP + FN
    seen = union > 0
    iou = np.where(seen, tp / np.where(seen, union, 1), np.nan)
    dice = np.where(seen, 2 * tp / np.where(seen, union + tp, 1), np.nan)
    miou = float(iou[seen].mean()) if seen.any() else 0.0
    return {"miou": miou, "pixel_accuracy": float(tp.sum() / matrix.sum()) if matrix.sum() else 0.0,
            "dice": float(dice[seen].mean()) if seen.any() else 0.0,
            "iou": {name: (float(v) if s else None) for name, v, s in zip(classes, iou, seen)},
            "dice_per_class": {name: (float(v) if s else None) for name, v, s in zip(classes, dice, seen)},
            "pixels": {name: int(v) for name, v in zip(classes, matrix.sum(axis=1))}}  # of each true class


class Segment(Task):
    """Args (beside the base Task's): dice: weight of the soft Dice loss added to the cross-entropy (0 = off)."""

    name = "segment"

    def __init__(self, *args, dice: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if self.augment:
            raise UserError("data.augment moves an image but not its mask: it applies to task=classify only")
        self.dice = check_number(dice, "task.dice", low=0)

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not (x.ndim == 4 and y.ndim == 3 and y.shape[1:] == x.shape[2:]):
            raise UserError(f"task segment needs a mask a pixel (labels of the image's height and width), e.g. "
                            f"data=canvas; this data has inputs {tuple(x.shape[1:])} and labels {tuple(y.shape[1:])}")

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:  # logits (B, K, H, W), y (B, H, W)
        y = batch["y"]
        loss = F.cross_entropy(logits, y)
        if self.dice:
            p = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=1)  # float64 stays
            t = F.one_hot(y, logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)  # (B, K, H, W)
            overlap, total = (p * t).sum(dim=(0, 2, 3)), (p + t).sum(dim=(0, 2, 3))  # (K,)
            loss = loss + self.dice * (1 - (2 * overlap / total.clamp(min=1e-6)).mean())
        return loss

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        y = batch["y"]
        per_image = F.cross_entropy(logits, y, reduction="none").mean(dim=(1, 2))  # (B,)
        return {"loss": per_image.sum(), "confusion": confusion(logits.argmax(dim=1), y, logits.shape[1])}

    def summarize(self, totals: dict, n: int) -> dict:
        figures = scores(totals["confusion"], self.info["classes"])
        for key in ("dice_per_class", "pixels"):  # evaluate's per-class table; a split's figures keep the IoU
            figures.pop(key)
        return {"error": 1 - figures["miou"], "loss": totals["loss"] / n, "n": n, **figures}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The class of each pixel, and each image's mean probability of the classes chosen."""
        p = torch.softmax(self(x).float(), dim=1)
        confidence, mask = p.max(dim=1)
        return {"mask": mask, "confidence": confidence.mean(dim=(1, 2))}


TASK = Segment
