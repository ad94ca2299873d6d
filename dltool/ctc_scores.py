"""What a CTC recognizer's strings score, for ``dltool evaluate`` on a task=ctc run: the character error rate and
exact match as training measures a split (dltool.tasks.ctc), per digit how often it is recognized, substituted,
deleted or inserted (from one minimal alignment of each decoded string to its reference), and the writer of
predictions-<split>.csv: each reference beside its decoded string."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_text


def alignment(ref, hyp) -> list[tuple[str, object, object]]:
    """One minimal edit alignment of ``hyp`` to ``ref``: ("ok" | "sub" | "del" | "ins", ref item, hyp item) in order;
    its non-"ok" operations number the edit distance."""
    n, m = len(ref), len(hyp)
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    ops, i, j = [], n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("ok" if ref[i - 1] == hyp[j - 1] else "sub", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ops.append(("del", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


def ctc_scores(y_true, predictions, info: dict, metric: str) -> tuple[dict, object]:
    """The split's CER (clipped: ``error``), exact match and per-digit counts; the writer of the predictions CSV."""
    classes, pad = [str(c) for c in info["classes"]], int(info["pad"])
    refs = [[int(c) for c in row if c != pad] for row in y_true]
    hyps = [[int(c) for c in row if c != pad] for row in predictions["predicted"]]
    counts = {name: {"count": 0, "correct": 0, "substituted": 0, "deleted": 0, "inserted": 0} for name in classes}
    edits = []
    for ref, hyp in zip(refs, hyps):
        ops = alignment(ref, hyp)
        edits.append(sum(op != "ok" for op, _, _ in ops))
        for op, r, h in ops:
            if r is not None:
                counts[classes[r]]["count"] += 1
            key = {"ok": "correct", "sub": "substituted", "del": "deleted"}.get(op)
            if key:
                counts[classes[r]][key] += 1
            else:
                counts[classes[h]]["inserted"] += 1
    chars = sum(map(len, refs))
    cer = sum(edits) / chars if chars else 0.0
    figures = {"error": min(cer, 1.0), "cer": cer,
               "exact_match": sum(r == h for r, h in zip(refs, hyps)) / len(refs) if refs else 0.0}
    per_class = {name: {**c, "error": (c["substituted"] + c["deleted"]) / c["count"] if c["count"] else 0.0}
                 for name, c in counts.items()}
    confidence = predictions["confidence"]

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "reference", "decoded", "edits", "confidence"])
        for k, (ref, hyp) in enumerate(zip(refs, hyps)):
            writer.writerow([k, int(ref == hyp), "".join(classes[c] for c in ref), "".join(classes[c] for c in hyp),
                             edits[k], f"{float(confidence[k]):.6f}"])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none", "per_class": per_class, "chars": chars, **figures,
            "measured": dict(figures)}, write
