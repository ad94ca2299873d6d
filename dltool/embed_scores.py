"""What a word-embedding run scores, for ``dltool evaluate`` on a task=embed run: the split's held-out ranking error
as training measures it (dltool.tasks.embed: the share of the split's (target, context) pairs whose true context
scores below a seeded noise word; ``auc`` = 1 - error), and beside it the best vectors' WordSim-353 Spearman
correlation and accuracy on the analogy questions (dltool.word_vectors), which do not depend on the split; and the
writer of predictions-<split>.csv: per row of the split its pairs and its error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_text

METRICS = ("error", "auc", "wordsim353", "analogies")


def embed_scores(predictions, metric: str, module) -> tuple[dict, object]:
    pairs, wrong = predictions["pairs"], predictions["wrong"]
    total = float(pairs.sum())
    error = float(wrong.sum()) / total if total else 0.0
    words = module.run_figures()["embedding"]
    figures = {"error": error, "auc": 1 - error, "wordsim353": words["wordsim353"]["spearman"],
               "analogies": words["analogies"]["accuracy"]}

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "pairs", "error"])
        for k, (p, w) in enumerate(zip(pairs.tolist(), wrong.tolist())):
            writer.writerow([k, int(p), f"{w / p:.6f}" if p else ""])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none", "per_class": {}, "pairs": int(total), **figures,
            "similarity": words["wordsim353"], "analogy_questions": words["analogies"],
            "measured": dict(figures)}, write
