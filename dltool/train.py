"""``train(cfg)``: one run from a composed config to a run folder with checkpoints, history and metrics: the config
checked and built (``build``), the run folder, the loop (dltool.loop), the final measurement of every split.

The loop is Lightning Fabric driving the task's LightningModule (dltool.tasks) over in-memory (or GPU-resident)
batches.
Measured on MNIST-1D by bench/train_overhead.py: Fabric with in-memory batches costs 1.07x a hand-written loop, the
Trainer 1.74x, so dltool writes these few lines of loop itself and keeps Lightning's module, precision and device
handling.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dltool import baseline, cache, engine
from dltool.checkpoints import load as load_checkpoint
from dltool.config import to_yaml
from dltool.data import Dataset, load_data
from dltool.data.disk import OnDevice, Rows
from dltool.errors import Interrupted, RunFailed, UserError, WriteError, check_number, choices
from dltool import loop
from dltool.debug_runs import debug_mode, debug_result, debug_splits
from dltool.loggers import open_tracker
from dltool.loop import StopTraining  # how an on_epoch callback ends a run (a tuner's pruning)
from dltool.runs import finite, new_run_dir, write_json, write_text

__all__ = ["Setup", "StopTraining", "build", "keep_threads", "train"]



@dataclass
class Setup:
    """Everything a run needs, built and checked before its folder is created."""

    cfg: object
    data: Dataset
    fabric: object
    module: object  # the task (a LightningModule, dltool.tasks) around the net
    optimizer: object
    scheduler: object
    splits: dict  # split name -> {"x": inputs, "y": labels, ...}, tensors on the device
    trainer: dict
    seed: int
    pretrained: str | None = None  # model.init_from resolved: the absolute path of the run it started from
    reuse_key: str | None = None  # the data's key in dltool.cache (None: nothing is reused)
    ranks: object = None  # this process's place in a run of several (dltool.ddp.Ranks); None: one process


def build(cfg, processes: bool = False) -> Setup:
    """Check the config, load and split the data, build the model, optimizer and schedule; UserError on mistakes.
    ``processes``: the run may take several (trainer.devices, dltool.ddp), as training does; a command that reads a
    saved run builds it in one."""
    import torch
    from omegaconf import OmegaConf

    from dltool.models import check_serves, create_model, net_arguments
    from dltool.optim import FUSED
    from dltool.tasks import task_arguments, task_class
    from dltool.tasks.base import standardizer

    t = engine.check_trainer(cfg.trainer)
    seed = check_number(cfg.seed, "seed", low=0, integer=True)
    from dltool import ddp

    ranks = ddp.ranks(t) if processes else None
    if t["threads"] or ranks is not None:
        torch.set_num_threads(t["threads"] or ddp.threads(ranks))
    torch.manual_seed(seed)
    task_args = {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "name"}
    Task = task_class(cfg.task.name)
    task_arguments(cfg.task.name, task_args)
    check_serves(cfg.model.name, cfg.task.name)
    key = cache.data_key(cfg.data, seed)  # None but in a tuning worker (dltool.cache.reuse)
    data = cache.load(key, load_data, cfg.data, seed)
    Task.check_data(data)
    data.info.update(Task.learn(data, seed, **task_args))
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    net = create_model(cfg.model.name, data.input_shape, Task.outputs(data.info, **task_args), **net_arguments(model_cfg))
    pretrained = None
    if model_cfg.get("init_from") is not None:
        from dltool.transfer import init_from

        pretrained = init_from(net, str(model_cfg["init_from"]), cfg.model.name, data.info)
    from dltool.transfer import freeze

    frozen = freeze(net, model_cfg.get("freeze", "none"))
    world = 1 if ranks is None else ranks.world
    if t["batch_size"] < 2 * world and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise UserError(f"batch norm needs trainer.batch_size >= 2{f' x {world} processes' if world > 1 else ''}")
    # one process: a tuning worker's runs share their Lightning Fabric (dltool.cache); its constructor's scan of the
    # installed packages' entry points cost 5 ms a run, and a run leaves nothing in it (setup wraps, it keeps nothing)
    fabric = engine.fabric(t, ranks) if ranks is not None else cache.remember(
        key, ("fabric", t["accelerator"], str(t["precision"])), lambda: engine.fabric(t), own=None)
    gpu = fabric.device.type == "cuda"
    fused = engine.switch(t, "fused", gpu and cfg.optimizer.name in FUSED, cfg.optimizer.name in FUSED,
                    f"optimizer {cfg.optimizer.name} has no fused step; fused ones: {choices(FUSED)}")
    images = len(data.input_shape) == 3 and any(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    # auto = on for 2-D convolutions, on the CPU too: a training step on one thread of an Intel Xeon ran 1.1-1.7x the
    # images a second of contiguous memory for cnn, lenet, resnet, mobilenet, inception, vgg and unet, and 0.93-0.97x
    # for alexnet (bench/channels_last.py)
    channels_last = engine.switch(t, "channels_last", images, images,
                            "trainer.channels_last needs 2-D convolutions on images (C, H, W), e.g. data=digits model=cnn")
    t.update(fused=fused, channels_last=channels_last)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)

    def on_device(a):  # in-memory data lives on the device for the whole run: a mini-batch is an index into it
        if isinstance(a, Rows):  # inputs on disk (data=npy): a mini-batch is read when it is indexed
            return OnDevice(a, fabric.device, torch.float32)
        a = torch.from_numpy(a).to(fabric.device)
        return a.contiguous(memory_format=torch.channels_last) if channels_last and a.ndim == 4 else a

    splits = cache.remember(key, ("device", str(fabric.device), channels_last), lambda: {
        k: {name: on_device(a) for name, a in arrays.items()} for k, arrays in data.splits.items()},
        own=lambda kept: {k: dict(arrays) for k, arrays in kept.items()})
    splits = debug_splits(splits, t)  # a debug run's few examples
    x_train = splits["train"]["x"]
    if cfg.data.normalize and not x_train.is_floating_point():
        raise UserError(f"data.normalize standardizes features, and data={cfg.data.name} holds token ids, which are "
                        "not magnitudes: set data.normalize=false")
    if cfg.data.normalize:
        mean, std = cache.remember(None if debug_mode(t) else key, ("stats", str(fabric.device), channels_last),
                                   lambda: standardizer(x_train), own=lambda kept: tuple(a.clone() for a in kept))
    else:  # float statistics for float inputs and token ids alike (task=lm reads neither)
        mean, std = (torch.zeros_like(x_train[0], dtype=torch.float32), torch.ones_like(x_train[0], dtype=torch.float32))
    from dltool.augment import check as check_augment

    augment = cfg.data.get("augment")  # generated images with masks have none
    module = Task(net, data.info, mean, std, OmegaConf.to_container(cfg.optimizer),
                  OmegaConf.to_container(cfg.scheduler), t["max_epochs"],
                  None if augment is None else check_augment(OmegaConf.to_container(augment)), fused=fused, **task_args)
    module.frozen = frozen  # kept in eval mode (their batch-norm statistics too) while the rest trains
    optimizer, scheduler = _unpack(module.configure_optimizers())
    return Setup(cfg, data, fabric, module, optimizer, scheduler, splits, t, seed, pretrained, key, ranks)


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
    A classification of vectors also gets a logistic-regression baseline on the same splits (dltool.baseline;
    ``trainer.baseline``), as metrics.json's ``baseline``; null where there is none.
    """
    with keep_threads():
        return _train(cfg, runs_dir, name, progress, on_epoch, report_test, resume)


def _train(cfg, runs_dir, name, progress, on_epoch, report_test, resume) -> dict | None:
    from omegaconf import OmegaConf

    from dltool import ddp, resume as resuming

    start = time.perf_counter()
    given = OmegaConf.to_container(cfg, resolve=True)  # what the other processes of the run build (dltool.ddp)
    cfg = copy.deepcopy(cfg)  # the caller's config stays as given
    s = build(cfg, processes=True)
    if s.ranks is not None and on_epoch is not None:
        raise UserError(ddp.ONE_PROCESS_A_TRIAL)  # on_epoch is a tuner's: it would stop rank 0 alone
    writes = s.ranks is None or s.ranks.rank == 0  # of several processes, rank 0 alone writes the run folder
    for key, source in s.data.sources.items():  # the run records where its files are, wherever it was started
        OmegaConf.update(cfg, f"data.{key}", source["path"], merge=False)
    if s.pretrained is not None:  # and the run it started from
        OmegaConf.update(cfg, "model.init_from", s.pretrained, merge=False)
    # the checkpoint carries what the data was (the task's info, files and their digests): evaluate checks it
    saved = {"config": OmegaConf.to_container(cfg, resolve=True), "info": s.data.info, "sources": s.data.sources}
    last = None
    if resume is not None:  # checked by rank 0; the others read the same checkpoint before it can change
        last = resuming.resumable(Path(resume), saved["config"]) if writes else \
            load_checkpoint(Path(resume) / "checkpoints" / "last.ckpt", need="progress")
    job = {"config": given, "runs_dir": str(runs_dir), "name": name, "report_test": report_test,
           "resume": None if resume is None else str(resume)}
    with ddp.joined(s.fabric, s.ranks, job) as group:
        run_dir = _open_folder(cfg, s, saved, runs_dir, name, resume, last, group) if writes else None
        return _run(cfg, s, run_dir, saved, last, group, progress, on_epoch, report_test, start)


def _open_folder(cfg, s: Setup, saved, runs_dir, name, resume, last, group) -> Path:
    """The run folder, new or resumed, with its config.yaml and process.json (what runs it, where)."""
    import torch

    if resume is not None:
        run_dir = Path(resume)
        # the folder is running again: its old status (interrupted, failed) must not tell a reader otherwise
        try:
            (run_dir / "metrics.json").unlink(missing_ok=True)
        except OSError as e:
            raise WriteError(f"cannot write {run_dir / 'metrics.json'}: {e.strerror}") from e
        if last["config"] != saved["config"]:  # trained longer: the run's config says for how long now
            write_text(run_dir / "config.yaml", to_yaml(cfg))
    else:
        # Everything the user could get wrong has been checked: only now does the run folder appear.
        stem = f"{'debug-' if debug_mode(s.trainer) else ''}{cfg.model.name}-{cfg.data.name}"
        run_dir = new_run_dir(runs_dir, name, stem)
        write_text(run_dir / "config.yaml", to_yaml(cfg))
    device = s.fabric.device
    card = f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
    write_json(run_dir / "process.json", {"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": time.strftime("%Y-%m-%d %H:%M:%S"), "device": card,
                                          "precision": str(s.trainer["precision"]), "fused": s.trainer["fused"],
                                          "channels_last": s.trainer["channels_last"],
                                          "processes": 1 if group is None else group.ranks.world,
                                          **({} if group is None else {"pids": group.pids()})})
    return run_dir


def _run(cfg, s: Setup, run_dir, saved, last, group, progress, on_epoch, report_test, start) -> dict | None:
    """The loop, then every split measured on the best checkpoint, metrics.json; None in a process that does not
    write (a rank of several but 0)."""
    model, optimizer = s.fabric.setup(s.module, s.optimizer)
    if group is not None:
        model.mark_forward_method("training_step")  # through DDP's forward, which syncs the gradients
    writes = run_dir is not None
    result = {"run": run_dir.name if writes else None, "task": cfg.task.name, "status": "failed", "splits": {},
              "human_error": s.data.human_error, "baseline": None,
              "epochs": 0, "best_epoch": 0, "seconds": 0.0}
    tracker = None
    try:
        # trainer.logger (dltool.loggers): a resumed run's logger gets the history rows it keeps first
        if writes:
            tracker = open_tracker(s.trainer, run_dir, saved["config"], last["progress"]["epoch"] if last else 0)
        with _sigterm_as_interrupt():
            result.update(loop.fit(s.fabric, model, s.module, optimizer, s.scheduler, s.splits, s.trainer, s.seed, run_dir,
                              saved, progress, on_epoch, last, log=None if tracker is None else tracker.epoch))
        best_state = result.pop("best_state")
        if group is not None:  # Fabric points the module's forward at training_step during a step (DDP's forward
            vars(s.module).pop("forward", None)  # syncs the gradients): one cut short by Ctrl-C leaves it so
        # the processes of a run stopped by Ctrl-C are not in step: rank 0 measures alone
        together = group is not None and result["status"] != "interrupted"
        if not writes and not together:
            return None
        best = None if run_dir is None else run_dir / "checkpoints" / "best.ckpt"
        if best_state is not None:  # what best.ckpt holds, still in memory
            s.module.load_state_dict(best_state)
        elif best is not None and best.is_file():  # a resumed run that found no better epoch: its best from before
            s.module.load_state_dict(load_checkpoint(best)["state_dict"])  # copied onto the module's device
        if together:
            from dltool.ddp import same_weights

            same_weights(s.module.state_dict().values())  # rank 0's best checkpoint, in every process
        shard = (group.ranks.rank, group.ranks.world) if together else None
        # in the order train, train_dev, dev, test: a task that chooses on dev (task=verify's threshold) reads the
        # best checkpoint's dev choice on train and train_dev, and dev chooses it again, the same, for test
        result["splits"] = {k: loop.evaluate(s.module, batch, s.fabric, k, shard)
                            if loop.size(batch) and (report_test or k != "test") else None
                            for k, batch in s.splits.items()}
        if not writes:
            return None
        result.update(s.module.run_figures())  # the task's figures of the best net as a whole (task=embed)
        if debug_mode(s.trainer):  # no baseline: its splits would be the whole data, not what the run saw
            result["debug"] = debug_result(s.trainer, result["splits"])
        elif s.trainer["baseline"] and baseline.applies(cfg.task.name, s.data.input_shape):
            # after the loop, from the host's arrays: no torch call, the run's random numbers are spent already;
            # a resumed run fits it again, to the same numbers (the same split, no randomness)
            measured = None if report_test else ("train", "train_dev", "dev")  # a tuner's trial: test unseen
            result["baseline"] = cache.remember(s.reuse_key, ("baseline", s.seed, measured),
                                                lambda: baseline.fit(s.data.splits, s.seed, measured))
    except BaseException as e:
        stopped = group.stopped(e) if group is not None and isinstance(e, RuntimeError) else None
        if not writes:
            if stopped is not None:  # one line (torchrun's ranks on other machines are commands of their own):
                raise stopped from None  # rank 0 says the rest, or its own machine's torchrun that it died
            raise
        _write_metrics_quietly(run_dir, result, start)  # the error that stopped the run is the one to report
        if tracker is not None:
            _quietly(tracker.close, "failed")
        if stopped is not None:
            resumable = (run_dir / "checkpoints" / "last.ckpt").is_file()
            raise RunFailed(f"{stopped}: run {run_dir.name} failed; saved in {run_dir}; " + (
                f"continue it with: dltool train --resume {run_dir}" if resumable else
                "it stopped before its first checkpoint: start it again with the same command")) from None
        raise
    _write_metrics(run_dir, result, start)
    if tracker is not None:
        tracker.finish(result)
    if result["status"] == "interrupted":
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():  # stopped before its first save of it
            raise Interrupted(f"run {run_dir.name} interrupted before its first checkpoint (after "
                              f"{result['epochs']} epochs; trainer.checkpoint_interval={s.trainer['checkpoint_interval']}"
                              " s): nothing to resume; "
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


def _quietly(close, status: str) -> None:
    """End a logger run of a run stopped by an error; its own failure (a full disk) says nothing."""
    try:
        close(status)
    except Exception:
        pass


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


