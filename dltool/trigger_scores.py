"""What a trigger word detector's frames score, for ``dltool evaluate`` on a task=trigger run: F1, precision and
recall of the frames labelled 1 and the frame error, as training measures a split (dltool.tasks.trigger), and the
writer of predictions-<split>.csv: per signal the triggers heard (runs of 1 in its labels) and the detections (runs
of predicted 1s), and its frame error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_text


def runs_of_ones(row) -> int:
    """How many runs of consecutive 1s a 0/1 sequence holds (its rising edges)."""
    previous, count = 0, 0
    for v in row:
        v = int(v)
        count += v == 1 and previous == 0
        previous = v
    return count


def trigger_scores(y_true, predictions, metric: str) -> tuple[dict, object]:
    import numpy as np
    import torch

    from dltool.tasks.trigger import f1_figures, false_positives, resample

    said = predictions["predicted"].astype(bool)
    yes = resample(torch.from_numpy(y_true), said.shape[1]).numpy().astype(bool)
    tp, fp, fn = int((said & yes).sum()), int((said & ~yes).sum()), int((~said & yes).sum())
    figures = f1_figures(tp, fp, fn)
    alarms = float(false_positives(torch.from_numpy(said), torch.from_numpy(yes)))
    figures = {"error": 1 - figures["f1"], **figures, "frame_error": (fp + fn) / said.size if said.size else 0.0,
               "false_positives_per_1000": 1000 * alarms / y_true.size if y_true.size else 0.0}
    wrong = (said != yes).mean(axis=1) if said.size else np.zeros(len(said))

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "triggers", "detections", "frame_error", "confidence"])
        for k in range(len(said)):
            writer.writerow([k, runs_of_ones(yes[k]), runs_of_ones(said[k]), f"{wrong[k]:.6f}",
                             f"{float(predictions['confidence'][k]):.6f}"])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none", "per_class": {}, "tp": tp, "fp": fp, "fn": fn, **figures,
            "measured": dict(figures)}, write
