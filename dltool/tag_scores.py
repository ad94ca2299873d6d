"""What a named-entity tagger scores, for ``dltool evaluate`` on a task=tag run: the entity-level micro F1
(``error`` = 1 - F1), precision and recall as training measures a split (dltool.tasks.tag: an entity counts only when
its span and type are both right), per type precision, recall, F1 and support, the token accuracy, and the writer of
predictions-<split>.csv: each sentence's words with their true and predicted tags and its entities."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_text


def tag_scores(y_true, predictions, info: dict, metric: str, x) -> tuple[dict, object]:
    from dltool.data.entities import TAG_PAD
    from dltool.tasks.tag import count, entities, prf, spans, tag_names, types_of

    classes, types = info["classes"], types_of(info["classes"])
    words = info["words"]
    rows, totals, right, tokens = [], {t: [0, 0, 0] for t in types}, 0, 0
    for k, (truth, said) in enumerate(zip(y_true.tolist(), predictions["predicted"].tolist())):
        n = sum(t != TAG_PAD for t in truth)
        true_tags, said_tags = tag_names(truth, n, classes), tag_names(said, n, classes)
        true_set, said_set = entities(true_tags), entities(said_tags)
        for kind, c in count(true_set, said_set, types).items():
            totals[kind] = [a + b for a, b in zip(totals.setdefault(kind, [0, 0, 0]), c)]
        right += sum(a == b for a, b in zip(true_tags, said_tags))
        tokens += n
        rows.append((k, true_set == said_set, [words[int(i)] for i in x[k, :n, 0]], true_tags, said_tags,
                     true_set, said_set))
    micro = prf(*(sum(c[i] for c in totals.values()) for i in range(3)))
    per_class = {kind: {**prf(tp, fp, fn), "support": tp + fn, "found": tp + fp} for kind, (tp, fp, fn) in totals.items()}
    figures = {"error": 1 - micro["f1"], **micro, "token_accuracy": right / tokens if tokens else 0.0}
    confidence = predictions["confidence"]

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "words", "tags", "predicted", "entities", "found", "confidence"])
        for k, ok, ws, true_tags, said_tags, true_set, said_set in rows:
            writer.writerow([k, int(ok), " ".join(ws), " ".join(true_tags), " ".join(said_tags),
                             spans(true_set, ws), spans(said_set, ws), f"{float(confidence[k]):.6f}"])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "micro", "per_class": per_class, "tokens": tokens, **figures,
            "measured": dict(figures)}, write
