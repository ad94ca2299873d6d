"""Whether a run folder can be continued (``dltool train --resume``) with a config, and its last checkpoint: of a
run not still running, of the same config but for how long it trains (LONGER) and what is written beside it (BESIDE).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from dltool.checkpoints import load as load_checkpoint
from dltool.errors import UserError
from dltool.runs import run_status


def check(cfg, run_dir: Path) -> None:
    """A UserError when ``run_dir`` cannot be resumed with ``cfg`` (see resumable), before anything is written."""
    from omegaconf import OmegaConf

    resumable(Path(run_dir), OmegaConf.to_container(cfg, resolve=True))


LONGER = ("max_epochs", "patience")  # what a resumed run may change: how long it trains (course 2: train longer)
BESIDE = ("baseline", "logger")  # what it may differ in as well: fitted or written beside the training, they
                                 # leave it as it was
# trainer keys newer than some runs, at their defaults
ADDED = {"fast_dev_run": False, "overfit_batches": None, "logger": "none", "devices": 1, "num_nodes": 1,
         "strategy": "auto"}


def resumable(run_dir: Path, config: dict) -> dict:
    """The run's own last checkpoint, checked: of a run that is not still running, present, safe to load, of this
    config but for LONGER and BESIDE (a run from before baselines resumes with one); a completed run only when
    ``config`` asks for more epochs than it had and it would not have stopped where it did anyway."""
    status = run_status(run_dir)
    if status == "diverged":
        raise UserError(f"run {run_dir.name} is diverged: nothing to resume (train a new run instead)")
    if status == "running":  # two processes must never write one run folder
        pid = json.loads((run_dir / "process.json").read_text()).get("pid")
        raise UserError(f"run {run_dir.name} is still running (process {pid} on {socket.gethostname()}): "
                        "stop it first (Ctrl-C, or kill it), then resume")
    path = run_dir / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"run {run_dir.name} has no checkpoints/last.ckpt: it cannot be resumed")
    last = load_checkpoint(path, need="progress")
    saved = last.get("config")

    def without_length(c):
        return {**c, "trainer": {k: v for k, v in c["trainer"].items() if k not in LONGER + BESIDE
                                 and not (k in ADDED and v == ADDED[k])}} \
            if isinstance(c, dict) and isinstance(c.get("trainer"), dict) else c

    if without_length(saved) != without_length(config):
        raise UserError(f"{path} does not belong to run {run_dir.name} (its config differs)")
    before, now, done = saved["trainer"], config["trainer"], last["progress"]
    if before.get("fast_dev_run"):
        raise UserError(f"run {run_dir.name} is a debug run (trainer.fast_dev_run): nothing to resume; train a real one")
    longer = now["max_epochs"] != before["max_epochs"]
    stopped = bool(before["patience"]) and done["stale"] >= before["patience"]  # it ended by early stopping
    still_stops = stopped and bool(now["patience"]) and done["stale"] >= now["patience"]
    if status == "completed" and (not longer or done["epoch"] >= now["max_epochs"]) and (not stopped or still_stops):
        raise UserError(f"run {run_dir.name} is completed: nothing to resume (trainer.max_epochs above "
                        f"{done['epoch']} trains it longer{', with a larger trainer.patience' if stopped else ''}; "
                        "or train a new run)")
    if still_stops:
        raise UserError(f"run {run_dir.name} stopped early at epoch {done['epoch']} (trainer.patience="
                        f"{before['patience']}): with that patience it would stop there again; raise trainer.patience")
    if longer and now["max_epochs"] <= done["epoch"]:  # (not longer: a run killed after its last epoch just ends)
        raise UserError(f"run {run_dir.name} has trained {done['epoch']} epochs already: give trainer.max_epochs "
                        f"above {done['epoch']}")
    if longer and config["scheduler"]["name"] == "cosine":
        raise UserError(f"run {run_dir.name} anneals its learning rate over trainer.max_epochs (scheduler=cosine): "
                        "a longer run would have had another schedule from its first epoch; train a new run")
    return last
