"""What a detector's boxes score, for ``dltool evaluate`` on a task=detect run: mAP at IoU 0.5 and over 0.5-0.95,
recall and each class's AP by pycocotools' COCOeval (dltool.tasks.detect.mean_ap, as training measures a split);
the boxes as CSV, one row a predicted box; and a picture of images with their true and predicted boxes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_atomic, write_text
from dltool.scoring import DETECT_METRICS

SHOWN = 8  # images in the picture
SHOWN_SCORE = 0.5  # predicted boxes drawn: those scoring at least this


def detect_scores(y_true, predictions, classes: list[str], metric: str, x, title: str) -> tuple[dict, object]:
    """The split's figures and per-class AP and counts; the writer of predictions-<split>.csv and boxes-<split>.png."""
    import numpy as np

    from dltool.tasks.detect import mean_ap

    boxes = predictions["boxes"]
    figures = mean_ap(boxes, y_true, classes)
    figures["error"] = 1 - figures["map50"]
    true_class = y_true[..., 0][y_true[..., 0] >= 0]
    found_class = boxes[..., 0][boxes[..., 0] >= 0]
    per_class = {name: {"ap50": figures["ap"][name], "objects": int((true_class == c).sum()),
                        "predicted": int((found_class == c).sum())} for c, name in enumerate(classes)}

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "class", "score", "x0", "y0", "x1", "y1"])  # pixel coordinates, continuous
        for i, j in zip(*np.nonzero(boxes[..., 0] >= 0)):
            c, score, *corners = boxes[i, j]
            writer.writerow([i, classes[int(c)], f"{score:.6f}", *(f"{v:.2f}" for v in corners)])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())
        boxes_chart(run_dir / f"boxes-{split}.png", x[:SHOWN].cpu().numpy(), y_true[:SHOWN], boxes[:SHOWN], classes,
                    title)

    measured = {m: figures[m] for m in DETECT_METRICS}
    return {"value": figures[metric], "average": "none" if metric in ("error", "recall") else "macro",
            "per_class": per_class, **{k: figures[k] for k in ("map50", "map", "recall")}, "measured": measured}, write


def boxes_chart(path: Path, images, truth, boxes, classes: list[str], title: str) -> None:
    """A PNG of a few images: true boxes in green (class above), predicted boxes scoring at least SHOWN_SCORE in
    red (class and score below); box corners are continuous pixel coordinates, a true box spans its pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n = len(images)
    figure = Figure(figsize=(2.2 * n, 2.6), layout="constrained")
    FigureCanvasAgg(figure)
    for j, axes in enumerate(figure.subplots(1, n, squeeze=False)[0]):
        axes.imshow(images[j].mean(axis=0), cmap="gray", extent=(0, images.shape[-1], images.shape[-2], 0))
        for c, x0, y0, x1, y1 in truth[j][truth[j][:, 0] >= 0]:
            axes.add_patch(Rectangle((x0, y0), x1 - x0 + 1, y1 - y0 + 1, fill=False, edgecolor="lime", linewidth=1.5))
            axes.text(x0, y0 - 0.5, classes[int(c)], color="lime", fontsize=7)
        for c, score, x0, y0, x1, y1 in boxes[j][boxes[j][:, 1] >= SHOWN_SCORE]:
            axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="red", linewidth=1,
                                     linestyle="--"))
            axes.text(x0, y1 + 2.5, f"{classes[int(c)]} {score:.2f}", color="red", fontsize=7)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(f"{title}: true (green), predicted with score >= {SHOWN_SCORE} (red)", fontsize=9)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
