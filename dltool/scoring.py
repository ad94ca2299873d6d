"""What a task's predictions score, for ``dltool evaluate``: the metrics each task offers, how they are computed, and
the per-example files they leave (predictions-<split>.csv, a PNG).

Classification's metrics come from scikit-learn, never from hand-written formulas: accuracy, error, precision,
recall, F1, F-beta and an error that weighs some mistakes more (course 3's weighted error). Segmentation's and
multi-label's come from their tasks' own counts (dltool.tasks.segment, dltool.tasks.multilabel), the same counts
training measures splits with; a language model's from its next-token predictions over the steps that are not padding
(dltool.tasks.lm); verification's from the embeddings, by dltool.tasks.verify's own figures (pairs at the run's dev
threshold, one-shot accuracy).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from dltool.errors import UserError, check_number, choices
from dltool.runs import write_text

METRICS = ("accuracy", "error", "precision", "recall", "f1", "fbeta", "weighted_error")  # task=classify
SEGMENT_METRICS = ("error", "miou", "pixel_accuracy", "dice")  # task=segment
MULTILABEL_METRICS = ("error", "f1")  # task=multilabel: over the known labels, the mean over labels
LM_METRICS = ("error", "perplexity")  # task=lm: over the steps whose target is not padding
VERIFY_METRICS = ("error", "auc", "one_shot")  # task=verify: pairs at the run's dev threshold; one-shot accuracy
DETECT_METRICS = ("error", "map50", "map", "recall")  # task=detect: COCOeval's (dltool.detect_scores)
TASK_METRICS = {"classify": METRICS, "segment": SEGMENT_METRICS, "multilabel": MULTILABEL_METRICS, "lm": LM_METRICS,
                "verify": VERIFY_METRICS, "detect": DETECT_METRICS,
                "seq2seq": ("error", "exact_match", "bleu", "token_accuracy"),  # dltool.beam_analysis
                "ctc": ("error", "cer", "exact_match"),  # dltool.ctc_scores
                "trigger": ("error", "f1", "precision", "recall", "frame_error", "false_positives_per_1000"),  # dltool.trigger_scores
                "tag": ("error", "f1", "precision", "recall", "token_accuracy"),  # dltool.tag_scores
                "embed": ("error", "auc", "wordsim353", "analogies")}  # dltool.embed_scores
DEFAULTS = {"average": "macro", "positive_label": None, "beta": 1.0, "class_weights": None, "weight_by": "true"}
AVERAGES = ("macro", "micro", "weighted", "binary")
WEIGHT_BY = ("true", "predicted")
POOLED = ("accuracy", "error", "weighted_error")  # counted over all examples alike: no average over classes


def compute(y_true, y_pred, classes, metric: str, average: str = "macro", positive_label: str | None = None,
            beta: float = 1.0, class_weights: dict | None = None, weight_by: str = "true") -> dict:
    """``metric`` of integer predictions ``y_pred`` against ``y_true`` (indices into ``classes``), per class and as a
    confusion matrix.

    ``average`` applies to precision, recall, f1 and fbeta; ``binary`` scores one class (``positive_label``, a class
    name) against the rest. Accuracy, error and weighted_error count every example and report average ``none``.
    ``weighted_error`` weighs each example by the weight of its true (or predicted) class from ``class_weights``.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, fbeta_score, precision_recall_fscore_support

    check_options(metric, average, weight_by, beta)
    classes = [str(c) for c in classes]
    labels = list(range(len(classes)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    weights = _weight_array(class_weights, classes)
    if metric in POOLED:
        if average == "binary" or positive_label is not None:
            raise UserError(f"--average binary and --positive-label apply to precision, recall, f1 and fbeta; "
                            f"{metric} counts all examples alike")
        if metric == "weighted_error":
            w = weights[y_true if weight_by == "true" else y_pred]
            value = 1 - accuracy_score(y_true, y_pred, sample_weight=w)
        else:
            accuracy = accuracy_score(y_true, y_pred)
            value = accuracy if metric == "accuracy" else 1 - accuracy
        used = "none"
    else:
        if average == "binary":
            # one class against the rest: sklearn's score over the single label [idx] is exactly that
            scope = {"labels": [_positive_index(positive_label, classes)], "average": "macro"}
        elif positive_label is not None:
            raise UserError(f"--positive-label needs --average binary (got --average {average})")
        else:
            scope = {"labels": labels, "average": average}
        if metric == "fbeta":
            value = fbeta_score(y_true, y_pred, beta=beta, zero_division=0, **scope)
        else:
            precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, zero_division=0, **scope)
            value = {"precision": precision, "recall": recall, "f1": f1}[metric]
        used = average
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                                     zero_division=0)
    per_class = {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                        "support": int(support[i])} for i, name in enumerate(classes)}
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {"value": float(value), "average": used, "per_class": per_class,
            "confusion_matrix": [[int(v) for v in row] for row in matrix]}

def classify_scores(y_true, predictions, classes, metric, options, requirements, title) -> tuple[dict, object]:
    """The chosen metric, per-class figures and confusion matrix of a classifier's predictions; the writer of its
    predictions CSV and confusion PNG."""
    y_pred, confidence = predictions["predicted"], predictions["confidence"]
    scores = compute(y_true, y_pred, classes, metric, **options)
    measured = {metric: scores["value"]}
    for name, _, _ in requirements:
        if name in METRICS and name not in measured:
            measured[name] = compute(y_true, y_pred, classes, name, **_options_for(name, options))["value"]

    def write(run_dir: Path, split: str) -> None:
        from dltool.report import confusion_chart

        _write_predictions(run_dir / f"predictions-{split}.csv", y_true, y_pred, confidence, classes)
        confusion_chart(run_dir / f"confusion-{split}.png", scores["confusion_matrix"], classes, title)

    return {"value": scores["value"], "average": scores["average"], "per_class": scores["per_class"],
            "confusion_matrix": scores["confusion_matrix"], "measured": measured}, write

def multilabel_scores(y_true, predictions, labels, metric) -> tuple[dict, object]:
    """Per-label error, precision, recall and F1 over the known labels (-1 = unknown), and their means; the writer of
    the predictions CSV (an example is correct when all its known labels are)."""
    import torch

    from dltool.tasks.multilabel import counts
    from dltool.tasks.multilabel import scores as label_scores

    said, known, yes = predictions["predicted"] == 1, y_true >= 0, y_true == 1
    matrix = counts(torch.from_numpy(said), torch.from_numpy(y_true)).numpy()  # as training counts them
    figures = label_scores(matrix, labels)
    right = ((said == yes) | ~known).all(axis=1)

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", *(f"{name}_true" for name in labels), *(f"{name}_p" for name in labels)])
        for i in range(len(y_true)):
            writer.writerow([i, int(right[i]), *y_true[i], *(f"{p:.6f}" for p in predictions["probability"][i])])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none" if metric == "error" else "macro",
            "per_class": figures["per_label"], "f1": figures["f1"],
            "measured": {m: figures[m] for m in MULTILABEL_METRICS}}, write

def segment_scores(y_true, predictions, classes, metric, x, title) -> tuple[dict, object]:
    """Mean IoU, pixel accuracy, Dice and per-class IoU of predicted masks, from the confusion counts of every pixel;
    the writer of the per-image predictions CSV and the masks PNG."""
    import torch

    from dltool.tasks.segment import confusion
    from dltool.tasks.segment import scores as mask_scores

    mask, confidence = predictions["mask"], predictions["confidence"]
    matrix = confusion(torch.from_numpy(mask), torch.from_numpy(y_true), len(classes)).numpy()  # as training counts
    figures = mask_scores(matrix, classes)
    figures["error"] = 1 - figures["miou"]
    per_class = {name: {"iou": figures["iou"][name], "dice": figures["dice_per_class"][name],
                        "pixels": figures["pixels"][name]} for name in classes}
    pixel_right = (mask == y_true).reshape(len(y_true), -1).mean(axis=1)

    def write(run_dir: Path, split: str) -> None:
        from dltool.report import masks_chart

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "pixel_accuracy", "confidence"])  # correct: every pixel right
        for i, (right, c) in enumerate(zip(pixel_right, confidence)):
            writer.writerow([i, int(right == 1), f"{right:.6f}", f"{c:.6f}"])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())
        masks_chart(run_dir / f"masks-{split}.png", x[:6].cpu().numpy(), y_true[:6], mask[:6], classes, title)

    measured = {m: figures[m] for m in SEGMENT_METRICS}
    return {"value": figures[metric], "average": "none", "per_class": per_class,
            "confusion_matrix": matrix.tolist(), "miou": figures["miou"],
            "pixel_accuracy": figures["pixel_accuracy"], "dice": figures["dice"], "measured": measured}, write

def lm_scores(y_true, predictions, info: dict, metric) -> tuple[dict, object]:
    """Next-token error and perplexity over the real steps (targets that are not padding), the error and count of
    each true next token, as training measures them (dltool.tasks.lm); the writer of the per-sequence CSV: the
    sequence, its predicted next tokens, whether all are right, and its mean token loss."""
    import numpy as np

    from dltool.data.names import decode
    from dltool.tasks.lm import perplexity

    tokens, pad = [str(t) for t in info["classes"]], info["tokens"]["pad"]
    predicted, log_p = predictions["predicted"], predictions["log_probability"]
    real = y_true != pad
    wrong = (predicted != y_true) & real
    losses = -np.take_along_axis(log_p, y_true[..., None], axis=2)[..., 0] * real  # (N, T), 0 on padding
    steps = int(real.sum())
    loss = float(losses.sum() / steps) if steps else 0.0
    figures = {"error": float(wrong.sum() / steps) if steps else 0.0, "perplexity": perplexity(loss)}
    per_class = {}
    for i in np.unique(y_true[real]):
        label = "<space>" if tokens[i] == " " else tokens[i]
        at = (y_true == i) & real
        per_class[label] = {"error": float(wrong[at].mean()), "count": int(at.sum())}

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "sequence", "predicted", "loss"])  # loss: the mean over its real steps
        for k in range(len(y_true)):
            said = "".join(tokens[j] for j in predicted[k][real[k]])
            writer.writerow([k, int(not wrong[k].any()), decode(y_true[k], tokens), said,
                             f"{losses[k].sum() / max(int(real[k].sum()), 1):.6f}"])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none", "per_class": per_class, "loss": loss, "tokens": steps,
            **figures, "measured": dict(figures)}, write


def verify_scores(y_true, predictions, info: dict, metric, threshold: float) -> tuple[dict, object]:
    """Pair error at the run's dev ``threshold``, ROC AUC and one-shot accuracy of the embeddings, as training
    measures a split (dltool.tasks.verify), for all identities and apart for the seen and the unseen ones (pairs
    within each group); the writer of the per-example CSV: the identity of the nearest one-shot reference."""
    import numpy as np

    from dltool.tasks.verify import figures, one_shot

    e, classes, unseen = predictions["embedding"].astype(np.float64), info["classes"], info.get("unseen", [])
    held = np.isin(y_true, np.asarray(unseen, dtype=np.int64))
    rows = {"all": figures(e, y_true, threshold, unseen)}
    for name, part in (("seen", ~held), ("unseen", held)) if held.any() else ():
        if len(np.unique(y_true[part])) > 1:
            rows[name] = figures(e[part], y_true[part], threshold)
    overall = rows["all"]
    keys = ("threshold", "error", "auc", "one_shot", "chance", "identities")
    per_class = {name: {k: r[k] for k in keys} for name, r in rows.items()}
    for name in ("seen", "unseen"):  # queries of each group against every identity's reference
        if f"one_shot_{name}" in overall and name in per_class:
            per_class[name].update(one_shot=overall[f"one_shot_{name}"], chance=overall["chance"])
    predicted, is_ref, _ = one_shot(e, y_true)

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "true", "predicted", "reference"])  # predicted: nearest reference's
        for i, (t, p, r) in enumerate(zip(y_true, predicted, is_ref)):
            writer.writerow([i, int(t == p), classes[t], classes[p], int(r)])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    measured = {m: overall[m] for m in VERIFY_METRICS}
    return {"value": overall[metric], "average": "none", "per_class": per_class,
            **{k: v for k, v in overall.items() if k != "error"}, "measured": measured}, write


def _positive_index(positive_label, classes: list[str]) -> int:
    """The class scored by ``--average binary``: the one named, or the second of exactly two (sklearn's pos_label=1)."""
    if positive_label is None:
        if len(classes) == 2:
            return 1
        raise UserError(f"--average binary needs a positive class with {len(classes)} classes: add --positive-label L "
                        f"(L one of: {choices(classes)}) or use --average macro, micro or weighted")
    if str(positive_label) not in classes:
        raise UserError(f"unknown --positive-label '{positive_label}'; classes: {choices(classes)}")
    return classes.index(str(positive_label))

def _weight_array(class_weights: dict | None, classes: list[str]):
    """One weight per class index: the given ones, 1 for the rest; unknown classes and non-positive weights fail."""
    import numpy as np

    weights = np.ones(len(classes))
    for name, weight in (class_weights or {}).items():
        if str(name) not in classes:
            raise UserError(f"unknown class '{name}' in --class-weights; classes: {choices(classes)}")
        ok = isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight) and weight > 0
        if not ok:
            raise UserError(f"--class-weights: the weight of class {name} must be a finite number > 0, got {weight!r}")
        weights[classes.index(str(name))] = weight
    return weights

def _options_for(metric: str, options: dict) -> dict:
    """The options that make sense for a second metric (a requirement): pooled metrics take no average."""
    if metric in POOLED:
        return {**options, "average": "macro", "positive_label": None}
    return options

def _write_predictions(path: Path, y_true, y_pred, confidence, classes: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "correct", "true", "predicted", "confidence"])  # index and correct: every task's columns
    for i, (t, p, c) in enumerate(zip(y_true, y_pred, confidence)):
        writer.writerow([i, int(t == p), classes[t], classes[p], f"{c:.6f}"])
    write_text(path, buffer.getvalue())


def check_options(metric: str, average: str, weight_by: str, beta, metrics: tuple[str, ...] = METRICS) -> None:
    check_choice(metric, metrics, "metric")
    check_choice(average, AVERAGES, "average")
    check_choice(weight_by, WEIGHT_BY, "weight-by")
    check_number(beta, "--beta", low=0, low_open=True)
    if not math.isfinite(beta):
        raise UserError(f"--beta must be a finite number > 0, got {beta!r}")


def check_choice(value: str, options: tuple[str, ...], what: str) -> None:
    if value not in options:
        raise UserError(f"unknown --{what} '{value}'; choose from: {choices(options)}")
