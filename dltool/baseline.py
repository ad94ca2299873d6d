"""A logistic-regression baseline beside every classification run on vector data (course 3: build a first system
quickly, then iterate; and where no human level is known, a yardstick the deep model has to beat).

What counts as vector data: examples of one dimension, ``input_shape == (features,)``: a CSV's feature columns,
MNIST-1D's 40 samples, ``data=synthetic data.shape=[F]``. Images (C, H, W) and sequences (C, L) get none: a linear
model on raw pixels is no yardstick for the convolutions and recurrences that such data are trained with, and its cost
grows with C x H x W (synthetic's 3 x 32 x 32 default is 3,072 features). Only task=classify: a segmentation or a
multi-label error is not one label an example.

The fit: scikit-learn's ``LogisticRegression`` (lbfgs, L2 penalty with C=1.0, multinomial over several classes) on the
run's own train split (the same rows as the deep model's: ``dltool.data.load_data`` with the run's seed), standardized
with that split's mean and std as course 2 normalizes inputs (also under ``data.normalize=false``: lbfgs needs it),
then the error (1 - accuracy) of every split. lbfgs draws no random numbers and the BLAS runs on one thread, so the
same data gives the same numbers; no torch call is made, so the run's own random numbers are untouched. One thread is
also the fast way here: on MNIST-1D (3,000 x 40, 10 classes, 83 iterations) the fit takes 0.06-0.2 s on one thread
after a run, 5-9 s when OpenBLAS's own two threads contend with torch's on two cores. A CSV of a few hundred rows takes
under 0.01 s (0.03 s with the import). ``trainer.baseline=false`` turns it off.

What it says about a run (against_baseline, baseline_note, baseline_remedies; dltool.diagnose reads them): whether it
beats the run on dev beyond noise, and if so what brings the run back to it.
"""

from __future__ import annotations

import warnings

import numpy as np

C = 1.0  # scikit-learn's default inverse L2 strength
MAX_ITER = 1000  # lbfgs needs 10 to 100 iterations on standardized data; a table it cannot fit says so (converged)
MODEL = f"logistic regression (scikit-learn, C={C})"


def applies(task: str, input_shape: tuple[int, ...]) -> bool:
    """Whether a run of ``task`` on examples of ``input_shape`` gets a baseline: classification of vectors."""
    return task == "classify" and len(input_shape) == 1


def fit(splits: dict[str, dict[str, np.ndarray]], seed: int, measure: tuple[str, ...] | None = None) -> dict | None:
    """Fit the baseline on ``splits["train"]`` and measure each split of ``measure`` (default: all), as metrics.json's
    ``baseline``: ``{"model", "splits": {split: {"error", "n"} or None}, "iterations", "converged"}``. A split not
    measured (empty, or test for a tuner) is None; a train split of one class cannot be fitted: None."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x, y = splits["train"]["x"].astype(np.float64), splits["train"]["y"]
    if len(np.unique(y)) < 2:
        return None
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1) if len(x) > 1 else np.ones_like(mean)
    std = np.where(std > 1e-8, std, 1.0)  # constant features: std 1, as dltool.tasks.base.standardizer has it

    def standardized(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float64) - mean) / std

    model = LogisticRegression(C=C, max_iter=MAX_ITER, random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)  # recorded as converged: false, shown by dltool train
        model.fit(standardized(x), y)
        errors = {k: None if not len(s["y"]) or (measure is not None and k not in measure) else
                  {"error": float(np.mean(model.predict(standardized(s["x"])) != s["y"])), "n": len(s["y"])}
                  for k, s in splits.items()}
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:  # anything else scikit-learn says is the user's to see
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return {"model": MODEL, "splits": errors, "iterations": int(np.max(model.n_iter_)), "converged": converged}


def against_baseline(errors: dict, baseline: dict | None, sizes: dict | None = None,
                     tolerance: float | None = None) -> dict | None:
    """The run against its baseline: ``{"errors": the baseline's per split, "dev_difference": run - baseline on dev,
    "interval": its 95 % interval (with the dev split's size), "better": whether the baseline wins on dev beyond
    noise}``: the interval above 0, or without a size a difference of at least ``tolerance``. None without a
    baseline dev error."""
    from dltool.diagnose import TOLERANCE, check_errors, difference_interval

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


def baseline_remedies(config: dict | None = None, run: str | None = None, n_train: int | None = None) -> list[str]:
    """What brings a deep model back to its logistic-regression baseline, each a ready command with the run's config.
    Measured on three tables of a few hundred rows (README; 10 seeds each), where the default MLP's mean test error
    was behind the baseline's on two: L2 sized to the data, ``optimizer.weight_decay`` = 10 / ``n_train`` (ten times
    the baseline's own penalty, 1 / (C n_train) with C = 1), reaches it on all three with dropout; 1e-4 (the variance
    remedy's first step), early stopping (the best checkpoint is the best dev epoch already) and a smaller model did
    not. Last, the linear model itself: the MLP without hidden layers is a logistic regression."""
    from dltool.diagnose import dropout_override, sized_l2

    cfg = config or {}
    model, opt = cfg.get("model") or {}, cfg.get("optimizer") or {}
    recs: list[str] = []

    def rec(text: str, override: str | None = None) -> None:
        if config is not None and run is not None and override:
            text += f": `dltool train --config {run}/config.yaml {override}`"
        recs.append(text)

    l2 = sized_l2(opt, n_train)
    rec("Stronger L2 regularization" + (f", sized to the data (10 / {n_train} training examples)" if n_train else ""),
        l2)
    if "keep_prob" in model:
        rec("L2 and dropout together", f"{l2} {dropout_override(model)}")
    hidden = model.get("hidden")
    if model.get("name") == "mlp" and isinstance(hidden, list) and hidden:
        own = f" optimizer.weight_decay={1 / n_train:.2g}" if n_train else ""
        rec("Or the linear model itself: the MLP without hidden layers is a logistic regression"
            + (" (with the baseline's L2 penalty)" if own else ""), f"model.hidden=[]{own}")
    return recs
