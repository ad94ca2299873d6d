"""The epoch loop of one run: shuffled in-memory mini-batches under the run's precision, dev error after each epoch,
early stopping, the best and last checkpoints, history.csv and the progress bar.

The loop calls the module's steps itself, not its ``forward``, so it enters Fabric's precision context
(``fabric.autocast()``) itself: that is where bf16 mixed precision happens. Measured by bench/train_overhead.py, this
loop with Fabric costs about 1.1x a hand-written one and ``pytorch_lightning.Trainer`` 1.6-1.7x.
"""

from __future__ import annotations

import csv
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from dltool import metrics
from dltool.checkpoints import save as save_checkpoint
from dltool.ddp import gathered, same_weights

EVAL_BATCH = 8192  # at most this many examples a forward pass when a split is measured,
EVAL_VALUES = 2 ** 17  # and at most about this many input values: a U-Net's forward on 32 x 32 canvases ran 4,471
# images a second in chunks of 128 against 1,597 in chunks of 2,048 (bf16, channels-last, one thread), its
# activations no longer held in the caches; for MNIST-1D's 40 values a chunk is 3,276 examples


def chunk(x) -> int:
    """Examples a forward pass takes when inputs like ``x`` (a tensor or array, examples first) are measured or
    predicted: EVAL_BATCH, fewer for large examples (EVAL_VALUES)."""
    per_example = max(1, int(math.prod(x.shape[1:])))
    return max(1, min(EVAL_BATCH, EVAL_VALUES // per_example))


class StopTraining(Exception):
    """Raised by an ``on_epoch`` callback to end training early with ``status`` (e.g. ``pruned`` by a tuner)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def fit(fabric, model, module, optimizer, scheduler, splits, t: dict, seed: int, run_dir: Path, saved: dict,
        progress: bool = True, on_epoch: Callable[[dict], None] | None = None, resume: dict | None = None,
        log: Callable[[dict], None] | None = None) -> dict:
    """The epoch loop: shuffled in-memory mini-batches, dev error after each epoch, early stopping on dev error, and
    status ``diverged`` at the first non-finite loss. ``checkpoints/best.ckpt`` keeps the best dev error, and of
    epochs with the same dev error the one of lower dev loss (see _better);
    ``checkpoints/last.ckpt`` holds everything needed to continue exactly (``resume``): weights, optimizer, schedule,
    both random number generators and the early-stopping counters. It is written at the end of an epoch when
    ``trainer.checkpoint_interval`` seconds have passed since the last one (0: every epoch), and at the end; a run cut
    short redoes at most that much. The best weights are kept in memory as they improve and written to best.ckpt just
    before each last.ckpt and at the end (a study's trial improved some 20 times in 30 epochs, and each write cost
    1-3 ms, bench/tune_overhead.py), so the two files on disk always agree on the best epoch. ``log`` gets each
    history row as it is written (trainer.logger, dltool.loggers).

    Returns status, epochs, best_epoch and ``best_state``: the best epoch's weights (as best.ckpt has them), None
    where this run found no better epoch (resumed past its best) or does not write.

    In a run of several processes (dltool.ddp) each rank trains on its shard of every mini-batch and measures its
    shard of dev; ``run_dir`` is None in all but rank 0, which alone writes."""
    import torch

    rank, world = fabric.global_rank, fabric.world_size
    train = splits["train"]
    n, batch_size, device = size(train), t["batch_size"], train["x"].device
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < max(2, world):
        del bounds[-2]  # fold a last batch too small into the one before (batch norm needs two examples, and
        # each process one)
    shuffle = torch.Generator().manual_seed(seed)
    # as of the last complete epoch: the best dev error and its dev loss (see _better), its epoch, epochs since
    done = {"epoch": 0, "best": math.inf, "best_loss": math.inf, "best_epoch": 0, "stale": 0}
    if world > 1:  # each rank its own dropout masks and augmentation: a stream of its own, from (seed, rank)
        import numpy as np

        torch.manual_seed(int(np.random.SeedSequence([seed, rank]).generate_state(1)[0]))
    if resume is not None:
        from dltool.optim import same_groups

        done.update(resume["progress"])
        module.load_state_dict(resume["state_dict"])
        optimizer_state, scheduler_state = same_groups(resume["optimizer"], resume["scheduler"], optimizer)
        optimizer.load_state_dict(optimizer_state)
        if scheduler is not None:
            scheduler.load_state_dict(scheduler_state)
        _set_rng(resume["ranks_rng"][rank] if world > 1 else resume["rng"], shuffle)
    status = "completed"
    start = saved_at = time.perf_counter()
    if run_dir is not None:
        (run_dir / "checkpoints").mkdir(exist_ok=True)

    best = {"state": None, "written": True}  # the best epoch's weights, and whether best.ckpt holds them yet

    def save_best() -> None:  # rank 0's weights; the ranks of a run hold the same ones
        if run_dir is not None and not best["written"]:
            save_checkpoint(run_dir / "checkpoints" / "best.ckpt",
                            {**saved, "epoch": done["best_epoch"], "state_dict": best["state"]})
            best["written"] = True

    def save_last() -> None:  # every rank calls it together: each one's random state goes into the checkpoint
        rng = _get_rng(shuffle, device)
        ranks_rng = gathered(rng) if world > 1 else None
        if run_dir is None:
            return
        save_checkpoint(run_dir / "checkpoints" / "last.ckpt", {
            **saved, "epoch": done["epoch"], "progress": dict(done), "state_dict": module.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": None if scheduler is None else scheduler.state_dict(),
            "rng": rng, **({} if ranks_rng is None else {"ranks_rng": ranks_rng})})

    history = _open_history(run_dir / "history.csv", done["epoch"]) if run_dir is not None else open(os.devnull, "w")
    writer = csv.DictWriter(history, fieldnames=metrics.HISTORY_COLUMNS)
    shard = (rank, world) if world > 1 else None
    step = model.training_step  # looked up once: through Fabric's wrapper each lookup cost 6 us a step
    backward, optimizer_step, zero_grad = plain_steps(fabric, optimizer)
    try:
        with _progress(t["max_epochs"], progress and run_dir is not None, done["epoch"]) as bar:
            for epoch in range(done["epoch"] + 1, t["max_epochs"] + 1):
                model.train()
                perm = torch.randperm(n, generator=shuffle).to(device)
                losses, sizes = [], []  # each step's mean loss and examples, summed once the epoch ends
                for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                    idx = perm[lo:hi] if world == 1 else perm[lo:hi][rank::world]  # this process's shard
                    with fabric.autocast():  # the precision the run claims (bf16-mixed: autocast to bfloat16)
                        loss = step({k: v[idx] for k, v in train.items()}, i)
                    zero_grad(set_to_none=True)
                    # DDP averages the processes' gradients: each shard's mean loss weighted by its share of the
                    # batch makes that average the gradient of the whole batch's mean loss
                    backward(loss if world == 1 else loss * (len(idx) * world / (hi - lo)))
                    if t["gradient_clip"]:
                        fabric.clip_gradients(model, optimizer, max_norm=t["gradient_clip"])
                    optimizer_step()
                    losses.append(loss.detach())
                    sizes.append(len(idx))
                # the examples' summed loss: one dot product an epoch, not two tensor operations a step (18 us)
                total = torch.stack(losses).float() @ torch.tensor(sizes, dtype=torch.float32, device=device)
                lr = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                if world > 1:
                    total = fabric.all_reduce(total, reduce_op="sum")
                    same_weights(module.buffers())  # batch norm's statistics: rank 0's, in every process
                train_loss = (total / n).item()
                dev = evaluate(module, splits["dev"], fabric, "dev", shard)
                row = {"epoch": epoch, "train_loss": train_loss, "dev_loss": dev["loss"], "dev_error": dev["error"],
                       "lr": lr, "seconds": round(time.perf_counter() - start, 4)}
                writer.writerow(row)
                history.flush()
                if log is not None:
                    log(row)
                if not (math.isfinite(train_loss) and math.isfinite(dev["loss"])):
                    status = "diverged"
                    break
                if _better(row, done):
                    done.update(best=row[metrics.MONITOR], best_loss=row["dev_loss"], best_epoch=epoch, stale=0)
                    if run_dir is not None:
                        best.update(state={k: v.detach().clone() for k, v in module.state_dict().items()},
                                    written=False)
                else:
                    done["stale"] += 1
                done["epoch"] = epoch
                early_stop = bool(t["patience"]) and done["stale"] >= t["patience"]
                due = epoch == t["max_epochs"] or early_stop or time.perf_counter() - saved_at >= t["checkpoint_interval"]
                if world > 1:
                    due = fabric.broadcast(due, src=0)  # rank 0's clock decides for all
                if due:
                    saved_at = time.perf_counter()
                    save_best()  # first: a last.ckpt on disk never counts a best epoch that best.ckpt lacks
                    save_last()
                bar(epoch, train_loss, dev["error"], done["best"])
                if on_epoch is not None:
                    on_epoch(row)
                if early_stop:
                    break
    except StopTraining as stop:
        status = stop.status
        save_best()
        save_last()
    except KeyboardInterrupt:
        status = "interrupted"  # last.ckpt holds a complete epoch: resuming from it repeats what followed exactly
    finally:
        history.close()
    save_best()  # completed, diverged, interrupted: the best complete epoch so far, what the run is measured on
    return {"status": status, "epochs": done["epoch"], "best_epoch": done["best_epoch"], "best_state": best["state"]}


def plain_steps(fabric, optimizer) -> tuple[Callable, Callable, Callable]:
    """The backward pass, the optimizer's step and its zero_grad, as the loop calls them each step.

    In one process under the precisions dltool offers (32-true, bf16-mixed: neither scales the loss), Fabric's
    ``backward`` is ``loss.backward()`` and its optimizer's ``step`` the optimizer's own, each behind three calls of
    Fabric's strategy and precision plugin: 69-84 us a step on an MLP step of 1-1.6 ms (one thread of an Intel Xeon;
    called directly, +3 us over a hand-written loop). Those are called directly then; with several processes (DDP)
    or a loss scaler, Fabric's. Fabric itself refuses a plain ``loss.backward()`` where its strategy needs its own."""
    if fabric.world_size == 1 and getattr(fabric.strategy.precision, "scaler", None) is None:
        raw = optimizer.optimizer
        return (lambda loss: loss.backward()), raw.step, raw.zero_grad
    return fabric.backward, optimizer.step, optimizer.zero_grad


def _better(row: dict, done: dict) -> bool:
    """Whether this epoch beats the best so far: a lower dev error, or the same one at a lower dev loss.

    An error is a count over the dev split: on a small one ties are the rule (85 examples give 86 possible errors),
    and the first epoch to reach the lowest was kept, often one of the first few, barely trained. The loss, of the
    same examples, tells such epochs apart. Measured on three tables of a few hundred rows (breast cancer, wine, one
    made with make_classification; 10 seeds each, README), the default MLP's test error went from 0.031 / 0.033 /
    0.158 to 0.025 / 0.022 / 0.155, and improved with every remedy tried; on MNIST-1D's 750 dev examples the lowest
    error is reached once and nothing changes. A run resumed from a checkpoint of before (no ``best_loss``)
    starts with an infinite one: its first tie wins."""
    error, best = row[metrics.MONITOR], done["best"]
    return error < best or (error == best and row["dev_loss"] < done["best_loss"])


def _open_history(path: Path, keep_epochs: int):
    """history.csv for appending: a new file with its header, or a resumed one cut back to ``keep_epochs`` rows."""
    if keep_epochs and path.is_file():
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= keep_epochs]
    else:
        rows = []
    history = path.open("w", newline="")
    writer = csv.DictWriter(history, fieldnames=metrics.HISTORY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return history


def _get_rng(shuffle, device) -> dict:
    import torch

    rng = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def _set_rng(rng: dict, shuffle) -> None:
    import torch

    torch.set_rng_state(rng["torch"])
    shuffle.set_state(rng["shuffle"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])


def size(batch: dict) -> int:
    """Examples in a batch (a dict of tensors sharing their first dimension)."""
    return len(next(iter(batch.values())))


def evaluate(model, batch: dict, fabric, split: str | None = None, shard: tuple[int, int] | None = None) -> dict:
    """The task's figures (``error``, ``loss``, ``n``, its own) on one split (named ``split``: the task may care,
    see Task.summarize_split), in eval mode, in large chunks, under the run's precision: the task sums over each
    chunk, then summarizes the split. Its ``row_sums`` (one row an example) are concatenated instead.

    ``shard`` (rank, world): this process measures its contiguous share of the split, and every process adds up
    the shares of all (dltool.ddp.gathered), in rank order: each gets the figures of the whole split."""
    import numpy as np
    import torch

    model.eval()
    n, rows = size(batch), getattr(model, "row_sums", ())
    rank, world = shard or (0, 1)
    first, end = rank * n // world, (rank + 1) * n // world
    parts, step = [], chunk(batch["x"])
    with torch.no_grad(), fabric.autocast():
        for lo in range(first, end, step):
            sums = model.validation_step({k: v[lo:min(lo + step, end)] for k, v in batch.items()})
            # a number, or an array of counts (float64 on the host)
            parts.append({key: value.item() if value.dim() == 0 else value.detach().double().cpu().numpy()
                          for key, value in sums.items()})
    if shard is not None:
        parts = [part for each in gathered(parts) for part in each]
    totals = {}
    for sums in parts:
        for key, value in sums.items():
            if key in rows:
                totals.setdefault(key, []).append(value)
            else:
                totals[key] = totals.get(key, 0.0) + value
    totals.update({key: np.concatenate(totals[key]) for key in rows if key in totals})
    return model.summarize_split(totals, n, split)


@contextmanager
def _progress(total: int, enabled: bool, completed: int = 0):
    """A rich progress bar on stderr, updated once per epoch: epoch, train loss, dev error, best dev error."""
    if not enabled:
        yield lambda *args: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("epoch"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[stats]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=total, completed=completed, stats="")

        def update(epoch, loss, dev_error, best):
            stats = f"loss {loss:.4f}  dev error {dev_error:.4f}  best {best:.4f}"
            bar.update(task, completed=epoch, stats=stats)

        yield update
