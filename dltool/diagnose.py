"""Course 3's error analysis on numbers: avoidable bias, variance, data mismatch, dev overfitting (what to try for
each is dltool.remedies').

Definitions (Ng, Machine Learning Yearning ch. 22, 40-41), on errors as fractions:

    avoidable bias  = train - human          (human-level error: the proxy for Bayes error)
    variance        = train_dev - train      (dev - train when there is no train-dev split)
    data mismatch   = dev - train_dev
    dev overfitting = test - dev

The focus is the largest gap; a tie goes to the earlier rung of the ladder (fix bias before variance, as the course's
basic recipe does). Gaps under ``tolerance`` do not count: when none is left, the run is doing well.

A gap is a difference of two error rates measured on finite samples, so it is also noise. Where each split's size
is known and its error is a proportion (classification), every error gets its 95 % Wilson score interval and every
gap the interval of a difference of two independent proportions (Newcombe's method 10, built from the two Wilson
intervals; avoidable bias: train's interval less the human proxy, a constant). A gap whose interval holds 0 is "not
distinguishable from noise" and is never the focus for that reason; when it was the largest, the first remedy is a
bigger dev and test set, of about n = z^2 (p1 (1 - p1) + p2 (1 - p2)) / gap^2 examples each, enough for the gap to
stand out at 95 % (Machine Learning Yearning ch. 6: a dev set large enough to tell apart differences you care about).

A run on vector data has a logistic-regression baseline (dltool.baseline) measured on the same splits. When it beats
the deep model on dev by more than noise (the difference interval above 0; the two errors are of the same dev
examples, so Newcombe's interval for independent samples is on the wide side: it flags only clear losses), that is
the first note, and the first remedies are what brings the model back to it (baseline_remedies: L2
sized to the data, with dropout, or the MLP without hidden layers, which is a logistic regression).

Pure maths on numbers: reading a run folder lives in dltool.runs, writing a diagnosis in dltool.report.
"""

from __future__ import annotations

from dltool.errors import UserError, check_number, choices
from dltool.metrics import SPLITS
from dltool.intervals import difference_interval, noisy, resolving_size, wilson
from dltool.remedies import baseline_remedies, divergence_remedies, recommendations

ERRORS = ("human", *SPLITS)  # the rungs of the ladder, in order
ERROR_LABELS = {"human": "human", "train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}
GAPS = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")
RUNGS = {"avoidable_bias": ("human", "train"), "variance": ("train", "train_dev"), "data_mismatch": ("train_dev", "dev"),
         "dev_overfitting": ("dev", "test")}  # each gap: the later rung minus the earlier one
TOLERANCE = 0.01  # one percentage point
# the tasks whose examples are right or wrong (Task.mistakes): what dltool errors samples
LABELS = {"avoidable_bias": "avoidable bias", "variance": "variance", "data_mismatch": "data mismatch",
          "dev_overfitting": "dev overfitting", "none": "none"}


def parse_errors(text: str) -> dict[str, float | None]:
    """Parse ``human=0.01,train=0.08,train_dev=0.09,dev=0.10,test=0.11``; train and dev are required."""
    errors: dict[str, float | None] = dict.fromkeys(ERRORS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in ERRORS:
            raise UserError(f"bad --errors part {part!r}: expected name=value with names {choices(ERRORS)}")
        try:
            errors[key] = float(value)
        except ValueError:
            raise UserError(f"bad --errors value {part!r}: {value.strip()!r} is not a number") from None
    for key in ("train", "dev"):
        if errors[key] is None:
            raise UserError("--errors needs at least train and dev, e.g. human=0.01,train=0.08,dev=0.10")
    return check_errors(errors)


def check_errors(errors: dict) -> dict:
    for key, value in errors.items():
        if value is not None:
            check_number(value, f"{key} error (a fraction: write 8% as 0.08)", low=0, high=1)
    return errors


def gaps(errors: dict) -> dict[str, float | None]:
    """The four gaps of the error ladder; None where a split (or the human proxy) is missing."""
    human, train, train_dev, dev, test = (errors.get(k) for k in ERRORS)

    def diff(a, b):
        return None if a is None or b is None else round(a - b, 10)

    return {
        "avoidable_bias": diff(train, human),
        "variance": diff(train_dev, train) if train_dev is not None else diff(dev, train),
        "data_mismatch": diff(dev, train_dev),
        "dev_overfitting": diff(test, dev),
    }


def gap_intervals(errors: dict, sizes: dict) -> dict[str, tuple[float, float] | None]:
    """Each gap's 95 % interval from the splits' sizes (None where an error or a size is missing)."""
    human, train, train_dev, dev, test = (errors.get(k) for k in ERRORS)

    def between(later: str, earlier: str):
        a, b, na, nb = errors.get(later), errors.get(earlier), sizes.get(later), sizes.get(earlier)
        return None if None in (a, b) or not na or not nb else difference_interval(a, na, b, nb)

    bias = None
    if human is not None and train is not None and sizes.get("train"):
        lo, hi = wilson(train, sizes["train"])
        bias = (lo - human, hi - human)
    return {"avoidable_bias": bias,
            "variance": between("train_dev", "train") if train_dev is not None else between("dev", "train"),
            "data_mismatch": between("dev", "train_dev"), "dev_overfitting": between("test", "dev")}


def focus(g: dict, tolerance: float = TOLERANCE, intervals: dict | None = None) -> str:
    """The gap to work on first: the largest known gap of at least ``tolerance`` that stands out from noise (when
    ``intervals`` are given), else ``none``.

    A negative avoidable bias (train error below the human proxy) is unknown, not small: it is never the focus.
    """
    quiet = noisy(intervals)
    known = {k: v for k, v in g.items() if v is not None and v >= tolerance and k not in quiet}
    if not known:
        return "none"
    return max(known, key=lambda k: (known[k], -GAPS.index(k)))


def notes(errors: dict, g: dict, tolerance: float = TOLERANCE, intervals: dict | None = None,
          sizes: dict | None = None) -> list[str]:
    """Plain statements about what the numbers can and cannot say."""
    out = []
    for gap in GAPS:
        if gap in noisy(intervals) and g[gap] is not None and g[gap] >= tolerance:
            a, b = RUNGS[gap] if gap != "variance" or errors.get("train_dev") is not None else ("train", "dev")
            ns = " and ".join(str(sizes[k]) for k in (a, b) if k != "human" and sizes and sizes.get(k))
            lo, hi = intervals[gap]
            out.append(f"{LABELS[gap].capitalize()} {g[gap]:.4f} is not distinguishable from noise with n = {ns} "
                       f"(95 % interval {lo:+.4f} to {hi:+.4f}).")
    if errors.get("human") is None:
        out.append("No human-level proxy: avoidable bias is unknown (give --human-error).")
    elif g["avoidable_bias"] < 0:
        out.append(f"Train error {errors['train']:.4f} is below the human-level proxy {errors['human']:.4f}: avoidable "
                   "bias is unknown; the proxy may be too weak (a team of experts sets a lower one), and progress "
                   "from here is harder to judge.")
    if errors.get("train_dev") is None:
        out.append("No train-dev split: variance is measured as dev - train and includes any data mismatch.")
    if errors.get("test") is None:
        out.append("No test error: dev overfitting is unknown.")
    if g["data_mismatch"] is not None and g["data_mismatch"] <= -tolerance:
        out.append("Dev error is below train-dev error: dev/test data look easier than the training data.")
    chosen = focus(g, tolerance, intervals)
    if chosen == "none" and not any(g[k] is not None and g[k] >= tolerance for k in noisy(intervals)):
        out.append(f"Every known gap is under {tolerance:g}: doing well against the human-level proxy.")
    elif chosen != "none":
        others = [k for k in GAPS if k != chosen and g[k] is not None and g[k] >= max(tolerance, g[chosen] / 2)
                  and k not in noisy(intervals)]
        if others:
            out.append("Also large: " + ", ".join(f"{LABELS[k]} {g[k]:.4f}" for k in others) + ".")
    return out


def diagnose(errors: dict, tolerance: float = TOLERANCE, config: dict | None = None, run: str | None = None,
             status: str = "completed", sizes: dict | None = None, baseline: dict | None = None) -> dict:
    """The whole diagnosis as a JSON-ready dict: errors, gaps, focus, notes and recommendations, and with ``sizes``
    (examples per split, for errors that are proportions) each error's and gap's 95 % interval. ``baseline`` (the
    error of each split of a baseline model on the same splits, as dltool.runs.baseline_errors gives) becomes the
    ``baseline`` comparison (against_baseline); when it wins on dev beyond noise, its note and its
    remedies come first.

    ``config`` (the run's resolved config) and ``run`` (its folder) make the recommendations ready commands. A run
    whose ``status`` is ``diverged`` broke off: its errors are those of the last good checkpoint, so what to try first
    is to make training stable, not the remedies of its gaps (a bigger model would diverge as well).
    """
    errors = check_errors({k: errors.get(k) for k in ERRORS})
    g = gaps(errors)
    intervals = gap_intervals(errors, sizes) if sizes else None
    chosen = focus(g, tolerance, intervals)
    quiet = noisy(intervals)
    large = [chosen] + [k for k in GAPS if k != chosen and g[k] is not None and g[k] >= max(tolerance, g[chosen] / 2)
                        and k not in quiet] if chosen != "none" else []
    found = notes(errors, g, tolerance, intervals, sizes)
    versus = against_baseline(errors, baseline, sizes, tolerance)
    if versus is not None and versus["better"]:
        found.insert(0, baseline_note(versus))
    if status == "diverged":
        found.insert(0, "Training diverged (the loss became NaN or infinite): these errors are those of the best "
                        "checkpoint before it, and no gap can be trusted until training is stable.")
        recs = divergence_remedies(config, run)
    else:
        n_train = (sizes or {}).get("train")
        recs = [r for gap in large for r in recommendations(gap, config, run, n_train)]
        loudest = max((k for k in quiet if g[k] is not None and g[k] >= tolerance), key=lambda k: g[k], default=None)
        if loudest is not None and (chosen == "none" or g[loudest] > g[chosen]):
            recs.insert(0, bigger_sets(loudest, errors, g[loudest]))
        if versus is not None and versus["better"]:
            first = baseline_remedies(config, run, n_train)
            said = {r.rpartition(": `")[2] for r in first}  # a command is said once
            recs = first + [r for r in recs if r.rpartition(": `")[2] not in said]
    result = {"errors": errors, "gaps": g, "focus": chosen, "notes": found, "recommendations": recs,
              "baseline": versus}
    if sizes:
        result["intervals"] = {
            "errors": {k: list(wilson(errors[k], sizes[k])) if errors.get(k) is not None and sizes.get(k) else None
                       for k in ERRORS[1:]},
            "gaps": {k: None if iv is None else list(iv) for k, iv in intervals.items()}}
    return result


def bigger_sets(gap: str, errors: dict, size: float) -> str:
    """The remedy when the largest gap is within noise: splits large enough for a gap of that size to show."""
    a, b = RUNGS[gap] if gap != "variance" or errors.get("train_dev") is not None else ("train", "dev")
    n = resolving_size(errors[a] if a != "human" else errors[b], errors[b], size)
    which = " and ".join(ERROR_LABELS[k] for k in (a, b) if k not in ("human", "train"))
    return (f"Bigger {which} set{'s' if ' and ' in which else ''} first: the {LABELS[gap]} of {size:.4f} is within "
            f"noise; about {n:,} examples each would resolve a gap of that size at 95 %")


def against_baseline(errors: dict, baseline: dict | None, sizes: dict | None = None,
                     tolerance: float | None = None) -> dict | None:
    """The run against its baseline: ``{"errors": the baseline's per split, "dev_difference": run - baseline on dev,
    "interval": its 95 % interval (with the dev split's size), "better": whether the baseline wins on dev beyond
    noise}``: the interval above 0, or without a size a difference of at least ``tolerance``. None without a
    baseline dev error."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    if not baseline or baseline.get("dev") is None or errors.get("dev") is None:
        return None
    base = {k: baseline.get(k) for k in ("train", "train_dev", "dev", "test")}
    check_errors({f"baseline {k}": v for k, v in base.items()})
    n = (sizes or {}).get("dev")
    diff = round(errors["dev"] - base["dev"], 10)
    interval = list(difference_interval(errors["dev"], n, base["dev"], n)) if n else None
    better = interval[0] > 0 if interval else diff >= tolerance
    return {"errors": base, "dev_difference": diff, "interval": interval, "better": better}


def baseline_note(versus: dict) -> str:
    """The note of a run that a logistic regression beats on dev (against_baseline's ``better``)."""
    dev, base = versus["errors"]["dev"] + versus["dev_difference"], versus["errors"]["dev"]
    noise = "" if versus["interval"] is None else \
        f", 95 % interval of the difference {versus['interval'][0]:+.4f} to {versus['interval'][1]:+.4f}"
    return (f"A logistic regression does better on dev ({base:.4f} vs {dev:.4f}{noise}): this model overfits or "
            "underuses what a linear model already finds; regularize it more (L2 sized to the data, with dropout), "
            "or use the linear model.")
