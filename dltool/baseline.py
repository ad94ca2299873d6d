"""A logistic-regression baseline beside every classification run on vector data (course 3: build a first system
quickly, then iterate; and where no human level is known, a yardstick the deep model has to beat).

What counts as vector data: examples of one dimension, ``input_shape == (features,)``: a CSV's feature columns,
MNIST-1D's 40 samples, ``data=synthetic data.shape=[F]``; and sentences of word ids (data=polarity), which it reads
as bags of words: a column a word of the vocabulary, the times the sentence holds it (padding, id 0, left out), the
yardstick of text classification (Pang & Lee 2002's). Images (C, H, W) and sequences (C, L) get none: a linear
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

What it says about a run (whether it beats the run on dev beyond noise, and what brings the run back to it) is
dltool.diagnose's (against_baseline, baseline_note) and dltool.remedies' (baseline_remedies).
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


def bag_of_words(x: np.ndarray, words: int) -> np.ndarray:
    """(N, T) word ids -> (N, words - 1) counts of ids 1 .. words - 1 in each row (0, padding, is not counted)."""
    rows = np.repeat(np.arange(len(x)), x.shape[1])
    counts = np.zeros((len(x), words), dtype=np.float64)
    np.add.at(counts, (rows, x.ravel()), 1.0)
    return counts[:, 1:]


def fit(splits: dict[str, dict[str, np.ndarray]], seed: int, measure: tuple[str, ...] | None = None) -> dict | None:
    """Fit the baseline on ``splits["train"]`` and measure each split of ``measure`` (default: all), as metrics.json's
    ``baseline``: ``{"model", "splits": {split: {"error", "n"} or None}, "iterations", "converged"}``. A split not
    measured (empty, or test for a tuner) is None; a train split of one class cannot be fitted: None."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if not isinstance(splits["train"]["x"], np.ndarray):  # inputs on disk (data=npy): not read whole for a yardstick
        return None
    name = MODEL
    if splits["train"]["x"].dtype.kind == "i":  # word ids -> word counts
        name = f"logistic regression on word counts (scikit-learn, C={C})"
        words = 1 + max(int(s["x"].max(initial=0)) for s in splits.values())
        splits = {k: {**s, "x": bag_of_words(s["x"], words)} for k, s in splits.items()}
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
    return {"model": name, "splits": errors, "iterations": int(np.max(model.n_iter_)), "converged": converged}
