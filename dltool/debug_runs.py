"""Debug runs, as Lightning has them: ``trainer.fast_dev_run=true`` puts one batch of each split through every step
of a run (train, each split's evaluation, the checkpoints, metrics.json, the report), to find a crash in seconds, not
after an hour; ``trainer.overfit_batches=N`` trains on the examples of N batches only, the course's first check that
a model can learn at all: its train error must fall to about zero (LEARNED), else the labels, the loss or the
learning rate are wrong, or the model is too small. A debug run says so in metrics.json (``debug``), its default name
begins with ``debug-``, it has no baseline, and ``dltool runs`` lists it only with ``--all``."""

from __future__ import annotations

from dltool.errors import UserError, check_bool, check_number

LEARNED = 0.01  # trainer.overfit_batches: the train error on its few examples at or below which the model can learn


def check_debug(t: dict) -> None:
    """Check trainer.fast_dev_run and trainer.overfit_batches in the trainer dict ``t``; a fast_dev_run sets its
    ``max_epochs`` to 1 (one batch of training, then every step after it once)."""
    check_bool(t["fast_dev_run"], "trainer.fast_dev_run")
    if t["overfit_batches"] is not None:
        check_number(t["overfit_batches"], "trainer.overfit_batches", low=1, integer=True)
        if t["fast_dev_run"]:
            raise UserError("trainer.fast_dev_run and trainer.overfit_batches are two debug runs: choose one")
    if t["fast_dev_run"]:
        t["max_epochs"] = 1


def debug_splits(splits: dict, t: dict) -> dict:
    """The examples a debug run sees: trainer.fast_dev_run, one batch of each split (the first ones: the splits are
    shuffled by the seed already); trainer.overfit_batches=N, the first N batches of the train split, and every
    other split whole."""
    if t["fast_dev_run"]:
        return {k: {name: a[:t["batch_size"]] for name, a in arrays.items()} for k, arrays in splits.items()}
    if t["overfit_batches"]:
        keep = t["overfit_batches"] * t["batch_size"]
        return {**splits, "train": {name: a[:keep] for name, a in splits["train"].items()}}
    return splits


def debug_mode(t: dict) -> str | None:
    """The debug run a trainer config asks for (fast_dev_run, overfit_batches), or None for a real one."""
    return "fast_dev_run" if t.get("fast_dev_run") else "overfit_batches" if t.get("overfit_batches") else None


def debug_result(t: dict, splits: dict) -> dict | None:
    """metrics.json's ``debug`` of a debug run: what it was and, for overfit_batches, whether the model learned."""
    mode = debug_mode(t)
    if mode == "fast_dev_run":
        return {"mode": mode, "batches": 1}
    if mode == "overfit_batches":
        error = (splits.get("train") or {}).get("error")
        return {"mode": mode, "batches": t["overfit_batches"], "examples": (splits.get("train") or {}).get("n"),
                "train_error": error, "learned": error is not None and error <= LEARNED}
    return None


def debug_line(debug: dict) -> str:
    """What a debug run's table is: one line for train's report."""
    if debug["mode"] == "fast_dev_run":
        return ("debug run (trainer.fast_dev_run): one batch of each split through every step; its figures are no "
                "result, and dltool runs lists it only with --all")
    error = debug["train_error"]
    verdict = f"the model can learn: train error {error:.4f} on them" if debug["learned"] else \
        f"train error {'-' if error is None else f'{error:.4f}'} on them, above {LEARNED}: the model cannot fit even " \
        "these; check the labels and the loss, raise trainer.max_epochs or optimizer.lr, or grow the model"
    return f"debug run (trainer.overfit_batches={debug['batches']}): trained on {debug['examples']} examples only; " \
        f"{verdict}"
