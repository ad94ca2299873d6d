"""``train(cfg)``: one run from a composed config to a run folder with checkpoints, history and metrics.

The loop is Lightning Fabric driving the Classifier LightningModule over in-memory (or GPU-resident) batches.
Measured on MNIST-1D by bench/train_overhead.py: Fabric with in-memory batches costs 1.07x a hand-written loop, the
Trainer 1.74x, so dltool writes these few lines of loop itself and keeps Lightning's module, precision and device
handling. The loop calls the module's steps itself, not its ``forward``, so it enters Fabric's precision context
(``fabric.autocast()``) itself: that is where bf16 mixed precision happens.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import signal
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dltool import metrics
from dltool.checkpoints import load as load_checkpoint
from dltool.checkpoints import save as save_checkpoint
from dltool.config import to_yaml
from dltool.data import Dataset, load_data
from dltool.errors import Interrupted, UserError, check_number, choices
from dltool.runs import finite, new_run_dir, run_status, write_json, write_text

ACCELERATORS = ("auto", "cpu", "gpu")
PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed"}
SWITCHES = ("auto", True, False)  # trainer.fused and trainer.channels_last: auto = on a GPU
EVAL_BATCH = 8192


@dataclass
class StopTraining(Exception):
    """Raised by an ``on_epoch`` callback to end training early with ``status`` (e.g. ``pruned`` by a tuner)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


@dataclass
class Setup:
    """Everything a run needs, built and checked before its folder is created."""

    cfg: object
    data: Dataset
    fabric: object
    module: object  # the Classifier (a LightningModule)
    optimizer: object
    scheduler: object
    splits: dict  # split name -> (x, y) tensors on the device
    trainer: dict
    seed: int


def build(cfg) -> Setup:
    """Check the config, load and split the data, build the model, optimizer and schedule; UserError on mistakes."""
    import torch
    from omegaconf import OmegaConf

    from dltool.classification import Classifier, standardizer
    from dltool.models import create_model
    from dltool.optim import FUSED

    t = _check_trainer(cfg.trainer)
    seed = check_number(cfg.seed, "seed", low=0, integer=True)
    if t["threads"]:
        torch.set_num_threads(t["threads"])
    torch.manual_seed(seed)
    data = load_data(cfg.data, seed)
    model_args = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "name"}
    net = create_model(cfg.model.name, data.input_shape, data.num_classes, **model_args)
    if t["batch_size"] < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise UserError("batch norm needs trainer.batch_size >= 2")
    fabric = _fabric(t)
    gpu = fabric.device.type == "cuda"
    fused = _switch(t, "fused", gpu and cfg.optimizer.name in FUSED, cfg.optimizer.name in FUSED,
                    f"optimizer {cfg.optimizer.name} has no fused step; fused ones: {choices(FUSED)}")
    images = len(data.input_shape) == 3 and any(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    channels_last = _switch(t, "channels_last", gpu and images, images,
                            "trainer.channels_last needs 2-D convolutions on images (C, H, W), e.g. data=digits model=cnn")
    t.update(fused=fused, channels_last=channels_last)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)

    def on_device(a):  # in-memory data lives on the device for the whole run: a mini-batch is an index into it
        a = torch.from_numpy(a).to(fabric.device)
        return a.contiguous(memory_format=torch.channels_last) if channels_last and a.ndim == 4 else a

    splits = {k: (on_device(x), on_device(y)) for k, (x, y) in data.splits.items()}
    x_train = splits["train"][0]
    if cfg.data.normalize:
        mean, std = standardizer(x_train)
    else:
        mean, std = torch.zeros_like(x_train[0]), torch.ones_like(x_train[0])
    from dltool.augment import check as check_augment

    module = Classifier(net, mean, std, OmegaConf.to_container(cfg.optimizer), OmegaConf.to_container(cfg.scheduler),
                        t["max_epochs"], check_augment(OmegaConf.to_container(cfg.data.augment)), fused=fused)
    optimizer, scheduler = _unpack(module.configure_optimizers())
    return Setup(cfg, data, fabric, module, optimizer, scheduler, splits, t, seed)


@contextmanager
def keep_threads():
    """``trainer.threads`` holds for one run: the process's torch thread count is restored afterwards, so that a
    later run in the same process (a tuning study, a library caller) starts from torch's own setting."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(cfg, runs_dir: str | Path = "runs", name: str | None = None, progress: bool = True,
          on_epoch: Callable[[dict], None] | None = None, report_test: bool = True, resume: Path | None = None) -> dict:
    """Train the model ``cfg`` describes; write ``runs_dir/<run>/``; return the contents of its metrics.json.

    ``on_epoch`` sees each history row and may raise StopTraining; ``report_test=False`` leaves the test split
    unmeasured (its entry is null), as a tuner must: it chooses on dev, and looks at test once, for the winner.
    ``resume`` (a run folder whose config ``cfg`` is) continues that run from its ``checkpoints/last.ckpt``.
    """
    with keep_threads():
        return _train(cfg, runs_dir, name, progress, on_epoch, report_test, resume)


def _train(cfg, runs_dir, name, progress, on_epoch, report_test, resume) -> dict:
    import torch
    from omegaconf import OmegaConf

    start = time.perf_counter()
    cfg = copy.deepcopy(cfg)  # the caller's config stays as given
    s = build(cfg)
    for key, source in s.data.sources.items():  # the run records where its files are, wherever it was started
        OmegaConf.update(cfg, f"data.{key}", source["path"], merge=False)
    # the checkpoint carries what the data was (classes, files and their digests): evaluate checks it is the same
    saved = {"config": OmegaConf.to_container(cfg, resolve=True), "classes": s.data.classes,
             "sources": s.data.sources}
    if resume is not None:
        run_dir, last = Path(resume), _resumable(Path(resume), saved["config"])
        # the folder is running again: its old status (interrupted, failed) must not tell a reader otherwise
        (run_dir / "metrics.json").unlink(missing_ok=True)
    else:
        # Everything the user could get wrong has been checked: only now does the run folder appear.
        run_dir, last = new_run_dir(runs_dir, name, f"{cfg.model.name}-{cfg.data.name}"), None
        write_text(run_dir / "config.yaml", to_yaml(cfg))
    device = s.fabric.device
    card = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
    write_json(run_dir / "process.json", {"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": time.strftime("%Y-%m-%d %H:%M:%S"), "device": card,
                                          "precision": str(s.trainer["precision"]), "fused": s.trainer["fused"],
                                          "channels_last": s.trainer["channels_last"]})
    model, optimizer = s.fabric.setup(s.module, s.optimizer)

    result = {"run": run_dir.name, "status": "failed", "splits": {}, "human_error": s.data.human_error,
              "epochs": 0, "best_epoch": 0, "seconds": 0.0}
    try:
        with _sigterm_as_interrupt():
            result.update(fit(s.fabric, model, s.module, optimizer, s.scheduler, s.splits, s.trainer, s.seed, run_dir,
                              saved, progress, on_epoch, last))
        best = run_dir / "checkpoints" / "best.ckpt"
        if best.is_file():
            s.module.load_state_dict(torch.load(best, map_location=s.fabric.device, weights_only=True)["state_dict"])
        result["splits"] = {k: evaluate(model, x, y, s.fabric) if len(y) and (report_test or k != "test") else None
                            for k, (x, y) in s.splits.items()}
    except BaseException:
        _write_metrics_quietly(run_dir, result, start)  # the error that stopped the run is the one to report
        raise
    _write_metrics(run_dir, result, start)
    if result["status"] == "interrupted":
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():  # stopped before its first epoch ended
            raise Interrupted(f"run {run_dir.name} interrupted before its first epoch ended: nothing to resume; "
                              f"saved in {run_dir}; start it again with the same command")
        raise Interrupted(f"run {run_dir.name} interrupted after {result['epochs']} epochs; saved in {run_dir}; "
                          f"continue it with: dltool train --resume {run_dir}")
    return finite(result)  # as metrics.json has it: JSON has no NaN


def _write_metrics(run_dir: Path, result: dict, start: float) -> None:
    result["seconds"] = round(time.perf_counter() - start, 3)
    write_json(run_dir / "metrics.json", result)


def _write_metrics_quietly(run_dir: Path, result: dict, start: float) -> None:
    """metrics.json (status failed) of a run stopped by an error; on a full disk this fails too, and says nothing."""
    try:
        _write_metrics(run_dir, result, start)
    except UserError:
        pass


def _resumable(run_dir: Path, config: dict) -> dict:
    """The run's own last checkpoint, checked: of a run that is neither finished nor still running, present, safe to
    load, and of this config."""
    import json
    import socket

    status = run_status(run_dir)
    if status in ("completed", "diverged"):
        raise UserError(f"run {run_dir.name} is {status}: nothing to resume (train a new run instead)")
    if status == "running":  # two processes must never write one run folder
        pid = json.loads((run_dir / "process.json").read_text()).get("pid")
        raise UserError(f"run {run_dir.name} is still running (process {pid} on {socket.gethostname()}): "
                        "stop it first (Ctrl-C, or kill it), then resume")
    path = run_dir / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"run {run_dir.name} has no checkpoints/last.ckpt: it cannot be resumed")
    last = load_checkpoint(path, need="progress")
    if last.get("config") != config:
        raise UserError(f"{path} does not belong to run {run_dir.name} (its config differs)")
    return last


def fit(fabric, model, module, optimizer, scheduler, splits, t: dict, seed: int, run_dir: Path, saved: dict,
        progress: bool = True, on_epoch: Callable[[dict], None] | None = None, resume: dict | None = None) -> dict:
    """The epoch loop: shuffled in-memory mini-batches, dev error after each epoch, early stopping on dev error, and
    status ``diverged`` at the first non-finite loss. ``checkpoints/best.ckpt`` keeps the best dev error;
    ``checkpoints/last.ckpt`` holds everything needed to continue exactly (``resume``): weights, optimizer, schedule,
    both random number generators and the early-stopping counters. It is written at the end of an epoch when
    ``trainer.checkpoint_interval`` seconds have passed since the last one (0: every epoch), and at the end; a run cut
    short redoes at most that much."""
    import torch

    x, y = splits["train"]
    n, batch_size = len(y), t["batch_size"]
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]  # fold a last batch of one example into the one before (batch norm needs two)
    shuffle = torch.Generator().manual_seed(seed)
    done = {"epoch": 0, "best": math.inf, "best_epoch": 0, "stale": 0}  # as of the last complete epoch
    if resume is not None:
        done.update(resume["progress"])
        module.load_state_dict(resume["state_dict"])
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(resume["scheduler"])
        _set_rng(resume["rng"], shuffle)
    status = "completed"
    start = saved_at = time.perf_counter()
    (run_dir / "checkpoints").mkdir(exist_ok=True)

    def save_last() -> None:
        save_checkpoint(run_dir / "checkpoints" / "last.ckpt", {
            **saved, "epoch": done["epoch"], "progress": dict(done), "state_dict": module.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": None if scheduler is None else scheduler.state_dict(),
            "rng": _get_rng(shuffle, x.device)})

    history = _open_history(run_dir / "history.csv", done["epoch"])
    writer = csv.DictWriter(history, fieldnames=metrics.HISTORY_COLUMNS)
    try:
        with _progress(t["max_epochs"], progress, done["epoch"]) as bar:
            for epoch in range(done["epoch"] + 1, t["max_epochs"] + 1):
                model.train()
                perm = torch.randperm(n, generator=shuffle).to(x.device)
                total = torch.zeros((), device=x.device)
                for step, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                    idx = perm[lo:hi]
                    with fabric.autocast():  # the precision the run claims (bf16-mixed: autocast to bfloat16)
                        loss = model.training_step((x[idx], y[idx]), step)
                    optimizer.zero_grad(set_to_none=True)
                    fabric.backward(loss)
                    if t["gradient_clip"]:
                        fabric.clip_gradients(model, optimizer, max_norm=t["gradient_clip"])
                    optimizer.step()
                    total += loss.detach() * (hi - lo)
                lr = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                train_loss = (total / n).item()
                dev = evaluate(model, *splits["dev"], fabric)
                row = {"epoch": epoch, "train_loss": train_loss, "dev_loss": dev["loss"], "dev_error": dev["error"],
                       "lr": lr, "seconds": round(time.perf_counter() - start, 4)}
                writer.writerow(row)
                history.flush()
                if not (math.isfinite(train_loss) and math.isfinite(dev["loss"])):
                    status = "diverged"
                    break
                if row[metrics.MONITOR] < done["best"]:
                    done.update(best=row[metrics.MONITOR], best_epoch=epoch, stale=0)
                    save_checkpoint(run_dir / "checkpoints" / "best.ckpt", {**saved, "epoch": epoch, "state_dict": module.state_dict()})
                else:
                    done["stale"] += 1
                done["epoch"] = epoch
                early_stop = bool(t["patience"]) and done["stale"] >= t["patience"]
                if epoch == t["max_epochs"] or early_stop or time.perf_counter() - saved_at >= t["checkpoint_interval"]:
                    saved_at = time.perf_counter()
                    save_last()
                bar(epoch, train_loss, dev["error"], done["best"])
                if on_epoch is not None:
                    on_epoch(row)
                if early_stop:
                    break
    except StopTraining as stop:
        status = stop.status
        save_last()
    except KeyboardInterrupt:
        status = "interrupted"  # last.ckpt holds a complete epoch: resuming from it repeats what followed exactly
    finally:
        history.close()
    return {"status": status, "epochs": done["epoch"], "best_epoch": done["best_epoch"]}


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


def evaluate(model, x, y, fabric) -> dict:
    """Mean cross-entropy and error (1 - accuracy) of ``model`` on one split, in eval mode, in large chunks, under the
    run's precision."""
    import torch

    model.eval()
    loss = wrong = 0.0
    with torch.no_grad(), fabric.autocast():
        for lo in range(0, len(y), EVAL_BATCH):
            batch_loss, batch_wrong = model.validation_step((x[lo:lo + EVAL_BATCH], y[lo:lo + EVAL_BATCH]))
            loss += batch_loss.item()
            wrong += batch_wrong.item()
    return {"error": wrong / len(y), "loss": loss / len(y), "n": len(y)}


def _check_trainer(cfg) -> dict:
    t = dict(cfg)
    check_number(t["max_epochs"], "trainer.max_epochs", low=1, integer=True)
    check_number(t["batch_size"], "trainer.batch_size", low=1, integer=True)
    if t["patience"] is not None:
        check_number(t["patience"], "trainer.patience", low=1, integer=True)
    if t["gradient_clip"] is not None:
        check_number(t["gradient_clip"], "trainer.gradient_clip", low=0, low_open=True)
    if t["threads"] is not None:
        check_number(t["threads"], "trainer.threads", low=1, integer=True)
    check_number(t["checkpoint_interval"], "trainer.checkpoint_interval", low=0)
    if t["accelerator"] not in ACCELERATORS:
        raise UserError(f"unknown trainer.accelerator '{t['accelerator']}'; choose from: {choices(ACCELERATORS)}")
    if str(t["precision"]) not in PRECISIONS:
        raise UserError(f"unknown trainer.precision '{t['precision']}'; choose from: {choices(PRECISIONS)}")
    for key in ("fused", "channels_last"):
        if t[key] not in SWITCHES:
            raise UserError(f"unknown trainer.{key} '{t[key]}'; choose from: auto, true, false")
    return t


def _switch(t: dict, key: str, auto: bool, possible: bool, impossible: str) -> bool:
    """A trainer switch: ``auto`` gives ``auto``; ``true`` where it cannot apply is a UserError saying why."""
    if t[key] == "auto":
        return auto
    if t[key] and not possible:
        raise UserError(impossible)
    return bool(t[key])


def _fabric(t: dict):
    import logging

    import torch
    from lightning_fabric import Fabric

    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    if t["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise UserError("trainer.accelerator=gpu but no GPU is available; use trainer.accelerator=auto or cpu")
    accelerator = "cuda" if t["accelerator"] == "gpu" else t["accelerator"]
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"  # never MPS or TPU by surprise
    return Fabric(accelerator=accelerator, devices=1, precision=PRECISIONS[str(t["precision"])])


def _unpack(configured):
    if isinstance(configured, dict):
        return configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    return configured, None


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler or `kill`) stops training like Ctrl-C: checkpoint saved, status ``interrupted``."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
