"""Classification: softmax over the net's logits, cross-entropy, error = 1 - accuracy.

The data's ``info`` holds the class names (``classes``); labels ``y`` are integer indices into them. The figures per
split are ``error``, ``loss`` (mean cross-entropy) and ``n``; ``dltool evaluate`` adds precision, recall, F1 per
class and the confusion matrix from the predictions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.errors import UserError
from dltool.tasks.base import Task


class Classify(Task):
    name = "classify"

    @staticmethod
    def check_data(data) -> None:
        y = data.splits["train"]["y"]
        if y.ndim != 1:
            hint = "several labels: use task=multilabel" if y.ndim == 2 else "a mask: use task=segment"
            raise UserError(f"task classify needs one label an example; this data has labels of shape "
                            f"{tuple(y.shape[1:])} an example ({hint})")
        if data.info.get("unseen"):
            raise UserError("data.unseen holds classes out of training, for task=verify (one-shot recognition); "
                            "task=classify must train on every class it is tested on: set data.unseen=[]")

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:  # logits (B, K), y (B,)
        return F.cross_entropy(logits, batch["y"])

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        y = batch["y"]
        return {"loss": F.cross_entropy(logits, y, reduction="sum"), "wrong": (logits.argmax(dim=1) != y).sum()}

    def summarize(self, totals: dict[str, float], n: int) -> dict:
        return {"error": totals["wrong"] / n, "loss": totals["loss"] / n, "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The predicted class (argmax of the logits, as the error counts it) and its softmax probability."""
        logits = self(x).float()
        best = logits.argmax(dim=1)
        return {"predicted": best, "confidence": torch.softmax(logits, dim=1).gather(1, best[:, None])[:, 0]}

    @staticmethod
    def mistakes(predictions: dict, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where the predicted class is not the label (the examples the error counts)."""
        return predictions["predicted"] != y


TASK = Classify
