"""``evaluate_run(run)``: one metric on one split from a run's best checkpoint, plus latency and size.

Course 3's method: one optimizing metric and satisficing metrics (running time, model size) that only have to meet a
threshold. Which metrics there are is the task's: for classification accuracy, error, precision, recall, F1, F-beta
or an error that weighs some mistakes more (from scikit-learn, never from hand-written formulas); for segmentation
error (1 - mean IoU), mean IoU, pixel accuracy and Dice, from the confusion counts of every pixel; for a language model
the next-token error and perplexity over the steps that are not padding. They are computed
on the run's own split (the saved config and seed rebuild the same split). Heavy imports (torch, scikit-learn, matplotlib) live inside the functions,
so importing this module stays cheap for ``dltool --help``.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path

from dltool.errors import UserError, choices
from dltool.metrics import SPLITS
from dltool.restore import latency, split_predictions
from dltool.runs import run_name, write_json
from dltool.scoring import DEFAULTS, METRICS, TASK_METRICS, check_choice, check_options, classify_scores, \
    lm_scores, multilabel_scores, segment_scores, verify_scores

RESOURCES = ("latency_ms", "parameters")
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
REQUIREMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


def parse_class_weights(text: str) -> dict[str, float]:
    """``"3=10,5=2"`` -> ``{"3": 10.0, "5": 2.0}``: the cost of a mistake on each named class (others cost 1)."""
    expected = "expected CLASS=WEIGHT pairs separated by commas, e.g. 3=10,5=2"
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, number = (s.strip() for s in part.partition("="))
        try:
            weight = float(number)
        except ValueError:
            weight = None
        if not sep or not name or weight is None or name in weights:
            raise UserError(f"bad class weights {text!r}: {expected}")
        weights[name] = weight
    return weights


def parse_requirement(text: str) -> tuple[str, str, float]:
    """``"latency_ms<=5"`` -> ``("latency_ms", "<=", 5.0)``: a satisficing metric and the threshold it must meet."""
    names = RESOURCES + tuple(dict.fromkeys(m for task in TASK_METRICS.values() for m in task))
    match = REQUIREMENT.fullmatch(text)
    if not match or match.group(1) not in names:
        raise UserError(f"bad requirement {text!r}: expected NAME<=VALUE (or <, >=, >), e.g. latency_ms<=5; "
                        f"names: {choices(names)}")
    return match.group(1), match.group(2), float(match.group(3))


def check_requirements(measured: dict, requirements) -> list[dict]:
    """Whether each requirement text holds for the ``measured`` values (``{"latency_ms": ..., "f1": ...}``)."""
    out = []
    for text in requirements:
        name, op, threshold = parse_requirement(text)
        if name not in measured:
            raise UserError(f"requirement {text!r}: {name} was not measured")
        value = float(measured[name])
        out.append({"require": text.strip(), "value": value, "met": bool(OPS[op](value, threshold))})
    return out


def evaluate_run(run_dir, metric: str = "error", split: str = "test", average: str = "macro",
                 positive_label: str | None = None, beta: float = 1.0, class_weights: dict | None = None,
                 weight_by: str = "true", requires=(), overrides=(), ensemble=(), tta: int | None = None) -> dict:
    """Evaluate a run's best checkpoint on ``split`` and write RUN/eval-<split>.json (the returned dict),
    RUN/predictions-<split>.csv and a picture: RUN/confusion-<split>.png (classify) or RUN/masks-<split>.png
    (segment: inputs, true and predicted masks).

    ``requires`` are satisficing checks such as ``"latency_ms<=5"`` or ``"f1>=0.9"``. Names and options are
    checked before anything is loaded (class names once the data is, before anything is written); the JSON is
    written last, so its presence means the others are complete. ``ensemble`` (other runs' folders) and ``tta`` (a
    number of shifted views) add the course's competition tricks beside the single model (dltool.ensemble).
    """
    from dltool.ensemble import check_request, competition
    from dltool.models import count_parameters
    from dltool.runs import read_config

    run_dir = Path(run_dir)
    task = ((read_config(run_dir) or {}).get("task") or {}).get("name", "classify")
    options = {"average": average, "positive_label": positive_label, "beta": beta, "class_weights": class_weights,
               "weight_by": weight_by}
    check_options(metric, average, weight_by, beta, TASK_METRICS.get(task, METRICS))
    if task != "classify":
        given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v != DEFAULTS[k]]
        if given:
            raise UserError(f"{', '.join(given)} apply to task=classify; run {run_name(run_dir)} learned task={task}")
    check_choice(split, SPLITS, "split")
    members = check_request(run_dir, task, ensemble, tta)
    requirements = [parse_requirement(text) for text in requires]
    if class_weights and "weighted_error" not in {metric, *(name for name, _, _ in requirements)}:
        raise UserError("--class-weights applies to --metric weighted_error (or a weighted_error requirement)")
    setup, x, y_true, predictions = split_predictions(run_dir, split, overrides)
    module = setup.module
    classes = [str(c) for c in setup.data.classes]
    title = f"run {run_name(run_dir)}: {split} split, n = {len(y_true)}"
    if task == "segment":
        scores, write_pictures = segment_scores(y_true, predictions, classes, metric, x, title)
    elif task == "multilabel":
        scores, write_pictures = multilabel_scores(y_true, predictions, classes, metric)
    elif task == "lm":
        scores, write_pictures = lm_scores(y_true, predictions, setup.data.info, metric)
    elif task == "detect":
        from dltool.detect_scores import detect_scores

        scores, write_pictures = detect_scores(y_true, predictions, classes, metric, x, title)
    elif task == "seq2seq":  # translations by beam search, and the error analysis of the search
        from dltool.beam_analysis import seq2seq_scores

        scores, write_pictures = seq2seq_scores(y_true, predictions, setup.data.info, metric, module, x)
    elif task == "ctc":  # greedy best-path strings against the references
        from dltool.ctc_scores import ctc_scores

        scores, write_pictures = ctc_scores(y_true, predictions, setup.data.info, metric)
    elif task == "trigger":  # output frames at probability >= 0.5
        from dltool.trigger_scores import trigger_scores

        scores, write_pictures = trigger_scores(y_true, predictions, metric)
    elif task == "tag":  # entities of the predicted tags against the true ones, span and type
        from dltool.tag_scores import tag_scores

        scores, write_pictures = tag_scores(y_true, predictions, setup.data.info, metric, x.cpu().numpy())
    elif task == "embed":  # the split's held-out pairs, and the vectors' similarity and analogy figures
        from dltool.embed_scores import embed_scores

        scores, write_pictures = embed_scores(predictions, metric, module)
    elif task == "verify":  # at the threshold the best checkpoint chose on dev
        scores, write_pictures = verify_scores(y_true, predictions, setup.data.info, metric, float(module.threshold))
    else:
        scores, write_pictures = classify_scores(y_true, predictions, classes, metric, options, requirements, title)
    speed = latency(module, x, autocast=setup.fabric.autocast)
    parameters = count_parameters(module)
    measured = {"latency_ms": speed["latency_ms_per_example"], "parameters": parameters, **scores.pop("measured")}
    result = {"run": run_name(run_dir), "task": task, "split": split, "metric": metric, **scores,
              "latency_ms_per_example": speed["latency_ms_per_example"], "parameters": parameters,
              "latency_ms_per_example_batched": speed["latency_ms_per_example_batched"],
              "requirements": check_requirements(measured, requires), "n": len(y_true), "overrides": list(overrides)}
    if members or tta is not None:  # before anything is written: a member that does not fit fails here
        result.update(competition(run_dir, setup, x, y_true, split, members, tta, metric, options, result, overrides))
    write_pictures(run_dir, split)
    write_json(run_dir / f"eval-{split}.json", result)
    return result
