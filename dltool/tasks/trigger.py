"""Trigger word detection (course 5, week 3: "activate"), on digit strings (dltool.data.digit_strings with
``data.target=trigger``): the inputs ``x`` are long signals (B, L), the labels ``y`` (B, L) 0/1 frames, 1 on the
frames right after each trigger digit ends. The net (model=ctc_rnn, best with ``model.bidirectional=false``: a
detector of a stream) scores every one of its frames (B, T, 1), T <= L (a strided front end); the labels are
resampled to those T frames (the nearest input frame to each output frame's centre).

Loss: the binary cross-entropy of each output frame, averaged over the frames (in float32 at least; float64 stays).
Figures per split, from counts over all its output frames at probability >= 0.5: ``error`` = 1 - ``f1``, the F1 of
the frames labelled 1 (most frames are 0: a detector that never fires would have a frame error of the share of ones,
and an F1 of 0); ``precision``, ``recall``, ``frame_error`` (the share of frames called wrong) beside it, and
``false_positives_per_1000``: the detections (runs of consecutive frames at >= 0.5) that overlap no labelled run,
per 1,000 input steps: the course's satisficing metric ("at most N false positives per hour of audio"), which
``dltool tune --constraint 'false_positives_per_1000<=2'`` can hold a study to (``satisficing``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.errors import UserError
from dltool.tasks.base import Task


def resample(y: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, L) frame labels at the net's ``frames`` output frames: the label of the input frame nearest to each
    output frame's centre."""
    at = ((torch.arange(frames, device=y.device) + 0.5) * y.shape[1] / frames).long().clamp(max=y.shape[1] - 1)
    return y[:, at]


def false_positives(said: torch.Tensor, yes: torch.Tensor) -> torch.Tensor:
    """How many detections of (B, T) bool frames ``said`` (each run of consecutive True frames in a row) overlap no
    True frame of ``yes``: the false alarms."""
    starts = said & ~F.pad(said[:, :-1], (1, 0), value=False)  # a run starts where the frame before is not said
    runs = int(starts.sum())
    if not runs:
        return torch.zeros((), device=said.device)
    ids = torch.cumsum(starts.flatten().long(), 0).view_as(said)  # the run each frame belongs to, 1..runs, row-major
    hit = torch.zeros(runs + 1, device=said.device).scatter_reduce(0, ids[said], yes[said].float(), reduce="amax")
    return runs - hit[1:].sum()


def f1_figures(tp: float, fp: float, fn: float) -> dict:
    """Precision, recall and F1 of the positive frames (1 each where there is nothing to find nor found; precision 0
    where nothing is found but there was something to find)."""
    precision = tp / (tp + fp) if tp + fp else float(not fn)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {"precision": precision, "recall": recall, "f1": f1}


class Trigger(Task):
    name = "trigger"
    satisficing = ("false_positives_per_1000",)  # dev figures that dltool tune --constraint may hold a study to

    @staticmethod
    def outputs(info: dict, **args) -> int:
        return 1

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not (data.info.get("target") == "trigger" and y.shape == x.shape):
            raise UserError(f"task trigger needs signals with a 0/1 label a frame, e.g. data=digit_strings "
                            f"data.target=trigger; this data has inputs of shape {tuple(x.shape[1:])} and labels of "
                            f"shape {tuple(y.shape[1:])}")

    def frame_losses(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = logits[..., 0].to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up; float64 stays
        target = resample(y, logits.shape[1]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none"), target

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        return self.frame_losses(logits, batch["y"])[0].mean()

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        losses, target = self.frame_losses(logits, batch["y"])
        said, yes = logits[..., 0] >= 0, target == 1
        return {"loss": losses.sum(), "frames": torch.tensor(float(losses.numel())), "tp": (said & yes).sum(),
                "fp": (said & ~yes).sum(), "fn": (~said & yes).sum(), "false_positives": false_positives(said, yes),
                "steps": torch.tensor(float(batch["y"].numel()))}

    def summarize(self, totals: dict, n: int) -> dict:
        frames = totals["frames"]
        figures = f1_figures(totals["tp"], totals["fp"], totals["fn"])
        return {"error": 1 - figures["f1"], **figures,
                "frame_error": (totals["fp"] + totals["fn"]) / frames if frames else 0.0,
                "false_positives_per_1000": 1000 * totals["false_positives"] / totals["steps"] if totals["steps"] else 0.0,
                "loss": totals["loss"] / frames if frames else 0.0, "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each output frame's probability of following a trigger, and whether it is >= 0.5 (``predicted``);
        ``confidence`` the largest probability of each signal."""
        p = torch.sigmoid(self(x).float()[..., 0])
        return {"predicted": (p >= 0.5).long(), "probability": p, "confidence": p.max(dim=1).values}


TASK = Trigger
