"""A saved run brought back: its config rebuilt (same seed, same splits), its best checkpoint loaded weights-only, and
what every command that reads a run needs from it: the task's predictions for a split, and latency. ``dltool
evaluate`` scores these (dltool.evaluate), ``dltool errors`` samples their mistakes (dltool.sheet), ``dltool
evaluate --ensemble`` averages several runs' (dltool.ensemble); sample, translate, tag, style and visualize restore a
run through ``restore`` too.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from dltool.checkpoints import load as load_checkpoint
from dltool.errors import UserError, choices, first_line
from dltool.loop import chunk
from dltool.runs import run_name, run_status

LATENCY_BATCH = 1024  # the batched latency measures one chunk of this many examples
# what evaluate may change in a run's config: how it runs, never what it scores (data, split, seed, model)
RUNTIME_KEYS = ("trainer.accelerator", "trainer.precision", "trainer.threads", "trainer.channels_last",
                # how a detector's outputs become boxes (task=detect): the same weights, decoded otherwise (ablations)
                "task.score_threshold", "task.nms", "task.max_boxes",
                # how a translator searches (task=seq2seq): beam width and length normalization
                "task.beam", "task.alpha")


def check_runtime_overrides(overrides) -> list[str]:
    """``overrides`` if each only changes how a saved run runs (RUNTIME_KEYS), else a UserError: scoring a run on a
    re-split or regenerated data set would report a number of some other experiment under its name."""
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key not in RUNTIME_KEYS:
            raise UserError(f"override {override!r} would change what run is scored: evaluate uses the run's own data, "
                            f"splits and weights; it takes only {choices(RUNTIME_KEYS)}")
    return list(overrides)


def restore(run_dir, overrides=()) -> tuple:
    """Rebuild a run from its config.yaml (same seed: same splits) and load its best checkpoint into the module.

    The checkpoint is read first and only as weights (``weights_only=True``): a damaged or unsafe file fails before
    the data is loaded, and is never retried as a full pickle. ``overrides`` (``key=value``, RUNTIME_KEYS only)
    change how the saved config runs, e.g. ``trainer.accelerator=cpu`` for a run trained on a GPU.
    """
    from dltool.config import compose
    from dltool.train import build

    run_dir = Path(run_dir)
    overrides = check_runtime_overrides(overrides)
    path = run_dir / "checkpoints" / "best.ckpt"
    if not path.is_file():
        raise UserError(f"run {run_name(run_dir)} has no checkpoints/best.ckpt (status: {run_status(run_dir)})")
    checkpoint = load_checkpoint(path)
    setup = build(compose(overrides, config_file=run_dir / "config.yaml"))
    from dltool.data import check_sources

    check_sources(checkpoint.get("sources") or {}, setup.data.sources)
    saved = (checkpoint.get("info") or {}).get("classes")
    if saved is not None and [str(c) for c in saved] != [str(c) for c in setup.data.classes]:
        raise UserError(f"the data of run {run_name(run_dir)} changed since training: classes were "
                        f"{choices(saved)}, now {choices(setup.data.classes)}")
    try:
        setup.module.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} does not fit the model of {run_dir / 'config.yaml'}: {first_line(e)}") from e
    setup.module.to(setup.fabric.device).eval()
    return setup, setup.module


def predict(setup, x) -> dict:
    """The task's predictions for inputs ``x`` (for classification: the class, as the error counts it, and its
    softmax probability), as numpy arrays, in large chunks under the run's precision."""
    import torch

    module = setup.module.eval()
    parts: dict[str, list] = {}
    step = chunk(x)
    with torch.no_grad(), setup.fabric.autocast():
        for lo in range(0, len(x), step):
            for key, value in module.predict(x[lo:lo + step]).items():
                parts.setdefault(key, []).append(value)
    return {key: torch.cat(values).cpu().numpy() for key, values in parts.items()}


def split_predictions(run_dir, split: str, overrides=()) -> tuple:
    """``(setup, x, y_true, predictions)``: the restored run (``restore``), the inputs of its ``split``, their labels
    as numpy and the task's predictions for them (``predict``). What evaluate scores and ``dltool errors`` samples
    mistakes from, rebuilt the one way for both; an empty split is a UserError."""
    setup, _ = restore(run_dir, overrides)
    x, y = setup.splits[split]["x"], setup.splits[split]["y"]
    if len(y) == 0:
        raise UserError(f"the {split} split of run {run_name(run_dir)} has no examples (data.split.{split} is 0)")
    return setup, x, y.cpu().numpy(), predict(setup, x)


def latency(module, x, repeats: int = 30, budget_s: float = 0.2, autocast=None) -> dict:
    """Milliseconds per example: median of ``repeats`` batch-1 calls (serving one request) and of a few calls on a
    batch of up to 1,024 examples (offline scoring), after warm-up calls; each stops early after ``budget_s``.
    ``autocast``: the run's precision context (``fabric.autocast``), so that a bf16 run is timed in bf16."""
    import contextlib

    import torch

    module.eval()
    one, chunk = x[:1], x[:LATENCY_BATCH]
    with torch.no_grad(), (autocast or contextlib.nullcontext)():
        for _ in range(3):
            module(one)
            module(chunk)
        single = _median_ms(lambda: module(one), repeats, budget_s, x.device)
        batched = _median_ms(lambda: module(chunk), max(3, repeats // 6), budget_s, x.device) / len(chunk)
    return {"latency_ms_per_example": single, "latency_ms_per_example_batched": batched}


def _median_ms(call, repeats: int, budget_s: float, device) -> float:
    import torch

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < deadline):
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
