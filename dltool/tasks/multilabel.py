"""Multi-task learning (course 3): K yes/no labels an example, learned by one net with K sigmoid outputs, where some
labels may be unknown. The labels ``y`` are (B, K) with 1 (yes), 0 (no) or -1 (unknown).

Loss, the course's: the mean over examples of the sum over the labels that are known of the logistic loss
-(y log p + (1 - y) log(1 - p)), p = sigmoid(z); an unknown label adds nothing, so an example with some labels unknown
still trains the others. Figures per split, over the known labels only: each label's error (wrong / known),
``error`` the mean of those over the labels known somewhere in the split, and each label's precision, recall and F1
(``f1`` their mean) from its counts of true and false positives and negatives (p >= 0.5 is a yes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.errors import UserError
from dltool.tasks.base import Task


def counts(said: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(4, K): true positives, false positives, false negatives, true negatives of each label, known labels only;
    ``said`` (B, K) is True where the prediction is yes."""
    known, yes = y >= 0, y == 1
    return torch.stack([(known & said & yes).sum(0), (known & said & ~yes).sum(0),
                        (known & ~said & yes).sum(0), (known & ~said & ~yes).sum(0)])


def scores(matrix, labels: list[str]) -> dict:
    """error, macro F1 and per-label figures from the (4, K) counts (see the module doc)."""
    import numpy as np

    tp, fp, fn, tn = np.asarray(matrix, dtype=np.float64)
    known = tp + fp + fn + tn
    seen = known > 0

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)

    error = ratio(fp + fn, known)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    per_label = {name: {"error": float(error[j]), "precision": float(precision[j]), "recall": float(recall[j]),
                        "f1": float(f1[j]), "known": int(known[j])} if seen[j] else
                 {"error": None, "precision": None, "recall": None, "f1": None, "known": 0}
                 for j, name in enumerate(labels)}
    return {"error": float(error[seen].mean()) if seen.any() else 0.0,
            "f1": float(f1[seen].mean()) if seen.any() else 0.0, "per_label": per_label}


def masked_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) each example's sum of the logistic losses of its known labels."""
    known = (y >= 0).to(logits.dtype)
    losses = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0).to(logits.dtype), reduction="none")
    return (losses * known).sum(dim=1)


class Multilabel(Task):
    name = "multilabel"

    @staticmethod
    def check_data(data) -> None:
        import numpy as np

        y = data.splits["train"]["y"]
        k = len(data.info["classes"])
        if y.ndim != 2 or y.shape[1] != k or not np.isin(y, (-1, 0, 1)).all():
            raise UserError(f"task multilabel needs a row of labels an example, one a class, each 1, 0 or -1 "
                            f"(unknown), e.g. data=canvas data.target=labels; this data has labels of shape "
                            f"{tuple(y.shape[1:])} for {k} classes")
        if not (y >= 0).any():
            raise UserError("every label of the training split is unknown (-1): nothing to learn from")

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:  # logits (B, K), y (B, K)
        return masked_loss(logits, batch["y"]).mean()

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        # sigmoid(z) >= 0.5 <=> z >= 0: a yes
        return {"loss": masked_loss(logits, batch["y"]).sum(), "counts": counts(logits >= 0, batch["y"])}

    def summarize(self, totals: dict, n: int) -> dict:
        return {**scores(totals["counts"], self.info["classes"]), "loss": totals["loss"] / n, "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each label's probability, the yes/no it makes (p >= 0.5), and ``confidence``: the probability of that set
        of answers, the product over the labels of max(p, 1 - p) (the sigmoids are independent)."""
        p = torch.sigmoid(self(x).float())
        return {"probability": p, "predicted": (p >= 0.5).long(), "confidence": torch.maximum(p, 1 - p).prod(dim=1)}

    @staticmethod
    def mistakes(predictions: dict, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where any known label is answered wrong; an unknown one (-1) is never a mistake."""
        said, known = predictions["predicted"] == 1, y >= 0
        return ((said != (y == 1)) & known).any(dim=1)


TASK = Multilabel
