"""Face verification and one-shot learning (course 4): the net maps an example to an embedding f(x), ``dim`` numbers
of unit length (the head's outputs, L2-normalized), so that examples of one identity lie close and of two identities
far apart; "same person?" is then ||f(x1) - f(x2)||^2 <= a threshold, and a new identity needs one reference
example, no retraining. Digit classes stand in for people; ``data.unseen`` holds some out of training entirely.

Loss, the course's triplet loss (FaceNet: Schroff et al. 2015): for an anchor A, a positive P (same identity) and a
negative N (another), max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + margin, 0), averaged over the anchors of a batch
that have both. Triplets are mined in each batch from its labels (``mining``): ``hard`` takes each anchor's farthest
positive and nearest negative (batch-hard); ``semi_hard`` the farthest positive and the nearest negative farther than
it but within the margin (FaceNet's semi-hard), the nearest negative where there is none; ``random`` a random
positive and negative (from torch's generator: a seeded run repeats), the easy triplets the course warns of.

Figures per split, from the embeddings of the whole split (``row_sums``: concatenated over chunks, exact): pairs
(every same-identity pair up to PAIR_CAP and as many different-identity pairs, drawn with a fixed seed) scored by
squared distance; ``threshold`` the one of least pair error on dev, stored in the task (a buffer, in every
checkpoint) and used on every split: ``error`` the pair verification error at it, ``auc`` the ROC AUC of -distance;
``one_shot``: one reference example an identity (fixed seed), the share of the other examples whose nearest reference
is of their identity, ``chance`` = 1 / identities; with unseen identities in the split, ``one_shot_seen`` and
``one_shot_unseen`` (queries of each, against all references). ``loss``: the triplet loss over the whole split.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dltool.errors import UserError, check_number, choices
from dltool.tasks.base import Task

MINING = ("semi_hard", "hard", "random")
PAIR_CAP = 20_000  # same-identity pairs a split is scored on (and as many different-identity ones)
ROWS = 2048  # anchors a chunk when a whole split's loss is computed


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) squared Euclidean distances, clamped at 0 (rounding)."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


def mine(d: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float, mining: str,
         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor (a row of the distances ``d``, with masks of its valid positives and negatives): the distances to
    its mined positive and negative (see the module doc), and whether it has both."""
    valid = positive.any(1) & negative.any(1)
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    if mining == "random":
        r = torch.rand(d.shape, generator=generator, device=d.device) if generator is not None else \
            torch.rand(d.shape, device=d.device)
        p = torch.where(positive, r, -1.0).argmax(1)
        n = torch.where(negative, r, -1.0).argmax(1)
        return d.gather(1, p[:, None])[:, 0], d.gather(1, n[:, None])[:, 0], valid
    d_ap = torch.where(positive, d, -inf).max(1).values
    hardest = torch.where(negative, d, inf).min(1).values
    if mining == "hard":
        return d_ap, hardest, valid
    semi = negative & (d > d_ap[:, None]) & (d < d_ap[:, None] + margin)
    d_semi = torch.where(semi, d, inf).min(1).values
    return d_ap, torch.where(semi.any(1), d_semi, hardest), valid


def triplet_losses(e: torch.Tensor, y: torch.Tensor, margin: float, mining: str, generator=None,
                   rows: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's triplet loss max(d(A,P) - d(A,N) + margin, 0) and whether it has a triplet, for the anchors
    ``rows`` (all by default) against every example of ``e`` (B, dim) with identities ``y``."""
    rows = rows or slice(0, len(e))
    d = squared_distances(e[rows], e)
    same = y[rows, None] == y[None, :]
    self_ = torch.arange(len(e), device=e.device)[rows, None] == torch.arange(len(e), device=e.device)[None, :]
    d_ap, d_an, valid = mine(d, same & ~self_, ~same, margin, mining, generator)
    return torch.where(valid, F.relu(d_ap - d_an + margin), 0.0), valid


def pairs(y: np.ndarray, cap: int = PAIR_CAP, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, same): every same-identity pair (i < j; a seeded ``cap`` of them if more) and as many different-identity
    pairs drawn at random (seeded, with replacement)."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        a, b = np.triu_indices(len(members), k=1)
        parts.append(np.stack([members[a], members[b]], 1))
    same = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
    if len(same) > cap:
        same = same[np.sort(rng.choice(len(same), cap, replace=False))]
    k, other = len(same), np.zeros((0, 2), dtype=np.int64)
    if len(np.unique(y)) > 1:
        while len(other) < k:  # rejection by batches: a handful of rounds, never a loop over examples
            draw = rng.integers(0, len(y), size=(2 * k, 2))
            other = np.concatenate([other, draw[y[draw[:, 0]] != y[draw[:, 1]]]])[:k]
    both = np.concatenate([same, other])
    return both[:, 0], both[:, 1], np.r_[np.ones(len(same), bool), np.zeros(len(other), bool)]


def choose_threshold(d: np.ndarray, same: np.ndarray) -> float:
    """The threshold t of least pair error ("same" when d <= t): midway between two sorted distances, or below the
    least; of equal errors the smallest t."""
    if not len(d):  # no pairs (one example an identity): any threshold
        return 0.0
    order = np.argsort(d, kind="stable")
    d, same = d[order], same[order]
    # error when the first k pairs (k = 0..P) are called same: the different ones among them + the same ones after
    wrong = np.r_[0, np.cumsum(~same)] + (same.sum() - np.r_[0, np.cumsum(same)])
    cut = np.r_[True, d[1:] > d[:-1], True]  # a threshold can only fall between two different distances
    k = int(np.flatnonzero(cut)[np.argmin(wrong[cut])])
    if k == 0:
        return float(d[0] - 1.0)
    return float(d[k - 1] + (d[k] - d[k - 1]) / 2) if k < len(d) else float(d[-1] + 1.0)


def pair_error(d: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """The share of pairs called wrong at ``threshold`` ("same" when d <= threshold)."""
    return float(((d <= threshold) != same).mean()) if len(d) else 0.0


def one_shot(e: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One reference an identity (seeded choice); for every example, the identity of its nearest reference.
    Returns (predicted identity of each example, whether it is a reference, the identities)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(y)
    refs = np.array([rng.choice(np.flatnonzero(y == c)) for c in ids], dtype=np.int64)
    d = squared_distances(torch.from_numpy(e), torch.from_numpy(e[refs])).numpy()
    is_ref = np.zeros(len(y), bool)
    is_ref[refs] = True
    return ids[d.argmin(1)], is_ref, ids


def figures(e: np.ndarray, y: np.ndarray, threshold: float | None, unseen=()) -> dict:
    """A split's verification figures (see the module doc) from its embeddings ``e`` and identities ``y``; a None
    ``threshold`` is chosen on these pairs."""
    from sklearn.metrics import roc_auc_score

    i, j, same = pairs(y)
    d = ((e[i] - e[j]) ** 2).sum(1)
    if threshold is None:
        threshold = choose_threshold(d, same)
    predicted, is_ref, ids = one_shot(e, y)
    query, right = ~is_ref, predicted == y
    out = {"error": pair_error(d, same, threshold), "threshold": threshold,
           "auc": float(roc_auc_score(same, -d)) if 0 < same.sum() < len(same) else None,
           "one_shot": float(right[query].mean()) if query.any() else None, "chance": 1 / len(ids),
           "identities": len(ids), "pairs": len(d)}
    held = np.isin(y, np.asarray(unseen, dtype=np.int64))
    if held.any():
        for name, part in (("seen", query & ~held), ("unseen", query & held)):
            out[f"one_shot_{name}"] = float(right[part].mean()) if part.any() else None
    return out


class Verify(Task):
    """Args (beside the base Task's): margin: the triplet loss's alpha (>= 0); mining: semi_hard, hard or random
    (see the module doc); dim: the embedding's size."""

    name = "verify"
    row_sums = ("embedding", "label")
    own_buffers = ("threshold",)  # beside mean and std in the state dict (dltool.export)

    def __init__(self, *args, margin: float = 0.2, mining: str = "semi_hard", dim: int = 32, **kwargs):
        super().__init__(*args, **kwargs)
        self.margin = check_number(margin, "task.margin", low=0)
        if mining not in MINING:
            raise UserError(f"unknown task.mining '{mining}'; choose from: {choices(MINING)}")
        self.mining = mining
        self.dim = dim
        self.register_buffer("threshold", torch.tensor(float("nan"), dtype=torch.float64))  # dev's; nan: not yet

    @staticmethod
    def outputs(info: dict, dim: int = 32, **args) -> int:
        return check_number(dim, "task.dim", low=1, integer=True)

    @staticmethod
    def check_data(data) -> None:
        y = data.splits["train"]["y"]
        if y.ndim != 1:
            raise UserError(f"task verify needs one identity (class) an example, e.g. data=digits; this data has "
                            f"labels of shape {tuple(y.shape[1:])} an example")
        if (np.unique(y, return_counts=True)[1] >= 2).sum() < 2 and len(y):
            raise UserError("task verify needs at least two training identities with two examples each (triplets)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the embedding f(x): unit length
        return F.normalize(super().forward(x), dim=1)

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        outputs = outputs.to(torch.promote_types(outputs.dtype, torch.float32))  # bf16 up; float64 (gradcheck) stays
        losses, valid = triplet_losses(F.normalize(outputs, dim=1), batch["y"], self.margin, self.mining)
        return losses.sum() / valid.sum().clamp(min=1)  # a batch without a triplet: 0, and a gradient of 0

    def sums(self, outputs: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        return {"embedding": F.normalize(outputs.float(), dim=1), "label": batch["y"]}

    def split_loss(self, e: torch.Tensor, y: torch.Tensor) -> float:
        """The mean triplet loss over a whole split, its anchors in chunks (random mining: a fixed generator)."""
        g = torch.Generator().manual_seed(0)
        total, count = 0.0, 0
        for lo in range(0, len(e), ROWS):
            losses, valid = triplet_losses(e, y, self.margin, self.mining, g, slice(lo, lo + ROWS))
            total, count = total + float(losses.sum()), count + int(valid.sum())
        return total / max(count, 1)

    def summarize_split(self, totals: dict, n: int, split: str | None) -> dict:
        """Dev chooses the threshold, and keeps it for every split after (see the module doc and dltool.train)."""
        e, y = totals["embedding"], totals["label"].astype(np.int64)
        known = None if split == "dev" or torch.isnan(self.threshold) else float(self.threshold)
        out = figures(e, y, known, self.info.get("unseen", ()))
        if split == "dev":
            self.threshold.fill_(out["threshold"])
        loss = self.split_loss(torch.from_numpy(e), torch.from_numpy(y))
        return {"error": out.pop("error"), "loss": loss, "n": n, **out}

    def summarize(self, totals: dict, n: int) -> dict:
        return self.summarize_split(totals, n, None)

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each example's embedding (unit length)."""
        return {"embedding": self(x).float()}


TASK = Verify
