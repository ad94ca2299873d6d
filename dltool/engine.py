"""How a run runs: the ``trainer`` group checked (``check_trainer``), its switches, and the Lightning Fabric it asks
for (``fabric``: one device, or DDP over several processes, dltool.ddp)."""

from __future__ import annotations

from dltool.errors import UserError, check_bool, check_number, choices
from dltool.loggers import check as check_logger
from dltool.debug_runs import check_debug

ACCELERATORS = ("auto", "cpu", "gpu")
PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed"}
SWITCHES = ("auto", True, False)  # trainer.fused (auto = on a GPU) and trainer.channels_last (auto = on images)


def check_trainer(cfg) -> dict:
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
    check_bool(t["baseline"], "trainer.baseline")
    check_logger(t["logger"])
    check_debug(t)
    from dltool.ddp import check as check_processes

    check_processes(t)
    if t["accelerator"] not in ACCELERATORS:
        raise UserError(f"unknown trainer.accelerator '{t['accelerator']}'; choose from: {choices(ACCELERATORS)}")
    if str(t["precision"]) not in PRECISIONS:
        raise UserError(f"unknown trainer.precision '{t['precision']}'; choose from: {choices(PRECISIONS)}")
    for key in ("fused", "channels_last"):
        if t[key] not in SWITCHES:
            raise UserError(f"unknown trainer.{key} '{t[key]}'; choose from: auto, true, false")
    return t


def switch(t: dict, key: str, auto: bool, possible: bool, impossible: str) -> bool:
    """A trainer switch: ``auto`` gives ``auto``; ``true`` where it cannot apply is a UserError saying why."""
    if t[key] == "auto":
        return auto
    if t[key] and not possible:
        raise UserError(impossible)
    return bool(t[key])


def fabric(t: dict, ranks=None):
    """Lightning Fabric for the run: one device, or DDP over ``ranks`` (dltool.ddp), not launched yet."""
    import logging

    import torch
    from lightning_fabric import Fabric

    for name in ("lightning_fabric", "pytorch_lightning.utilities.rank_zero"):  # Lightning's banners
        logging.getLogger(name).setLevel(logging.WARNING)
    if t["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise UserError("trainer.accelerator=gpu but no GPU is available; use trainer.accelerator=auto or cpu")
    accelerator = "cuda" if t["accelerator"] == "gpu" else t["accelerator"]
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"  # never MPS or TPU by surprise
    precision = PRECISIONS[str(t["precision"])]
    if ranks is None:
        return Fabric(accelerator=accelerator, devices=1, precision=precision)
    if accelerator == "cuda" and torch.cuda.device_count() < t["devices"]:
        raise UserError(f"trainer.devices={t['devices']} on GPUs, but this machine has {torch.cuda.device_count()}: "
                        "give at most that many, or trainer.accelerator=cpu")
    from dltool.ddp import environment

    return Fabric(accelerator=accelerator, strategy="ddp", devices=t["devices"], num_nodes=t["num_nodes"],
                  precision=precision, plugins=[environment(ranks)])
