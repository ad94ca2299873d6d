"""``trainer.logger``: a run's figures in the trackers people already watch, through Lightning's own loggers.

- ``csv``: ``RUN/logs/metrics.csv`` and ``RUN/logs/hparams.yaml`` (``pytorch_lightning.loggers.CSVLogger``: Fabric's
  own CSVLogger cannot log hyperparameters);
- ``tensorboard``: event files in ``RUN/logs/`` (``lightning_fabric.loggers.TensorBoardLogger``), the config in
  TensorBoard's HPARAMS tab with the final errors as its metrics;
- ``mlflow``: an SQLite store ``RUN/mlflow.db`` (``pytorch_lightning.loggers.MLFlowLogger``), experiment ``dltool``,
  one MLflow run named as the run. Not a file store ``RUN/mlruns``: MLflow 3 has put that backend in maintenance mode
  and refuses it unless ``MLFLOW_ALLOW_FILE_STORE=true``. A new store costs about 1.4 s of CPU and 5 s of wall time on 2
  shared cores (MLflow creates its tables by running its migrations), once a run.

Each logs per epoch what history.csv holds, under the same names, the epoch as the step (one place: the loop hands
each history row to ``Tracker.epoch`` as it writes it); the composed config as hyperparameters, flattened
(``optimizer.lr``); and at the end the error of each measured split of metrics.json as ``final/<split>_error``, at
the step of the last epoch. A resumed run keeps its logger run: csv and tensorboard files are the run's own and are
written again from history.csv's kept rows (the epochs after the checkpoint, which the resumed run redoes, would
otherwise appear twice); the MLflow run is reopened and gets only the epochs it does not have yet (its params cannot
change: a value a longer run changed, ``trainer.max_epochs``, becomes a tag). A fast_dev_run logs nothing (as in
Lightning). The packages are optional extras, checked before anything is written (``check``).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from dltool import metrics
from dltool.errors import UserError, choices
from dltool.run_list import flatten

LOGGERS = ("none", "csv", "tensorboard", "mlflow")
# the module each logger needs and the optional extra of pyproject.toml that installs it (with its bounds)
PACKAGES = {"tensorboard": ("tensorboard", "pip install 'dltool[tensorboard]'"),
            "mlflow": ("mlflow", "pip install 'dltool[mlflow]'")}
EXPERIMENT = "dltool"  # the MLflow experiment of a run's own store
STATUS = {"completed": "FINISHED", "interrupted": "KILLED", "pruned": "KILLED"}  # else FAILED (MLflow's RunStatus)


def check(name) -> str:
    """``trainer.logger`` checked: one of LOGGERS, and its package importable; a UserError naming the choices or the
    pip command otherwise."""
    if name not in LOGGERS:
        raise UserError(f"unknown trainer.logger '{name}'; choose from: {choices(LOGGERS)}")
    if name in PACKAGES:
        module, command = PACKAGES[name]
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"trainer.logger={name} needs the {module} package: {command}") from None
    return name


class Tracker:
    """One run's logger: ``epoch(row)`` for each history row, ``finish(result)`` with metrics.json at the end."""

    def __init__(self, name: str, run_dir: Path, config: dict, resumed_epochs: int = 0):
        self.name, self.run_dir, self.params = name, Path(run_dir), flatten(config)
        self.logged = 0  # the last epoch the logger has
        if name == "mlflow":
            from pytorch_lightning.loggers import MLFlowLogger

            uri = f"sqlite:///{(self.run_dir / 'mlflow.db').resolve()}"
            run_id = _mlflow_run(uri, self.run_dir / "mlartifacts")
            self.logger = MLFlowLogger(experiment_name=EXPERIMENT, run_name=self.run_dir.name, tracking_uri=uri,
                                       run_id=run_id)
            if run_id is not None:  # reopened: MLflow's params cannot change; a longer run's new values are tags
                client = self.logger.experiment
                self.logged = max((m.step for m in client.get_metric_history(run_id, metrics.MONITOR)), default=0)
                before = client.get_run(run_id).data.params
                for key, value in self.params.items():
                    if key in before and before[key] != str(value):
                        client.set_tag(run_id, key, str(value))
                self.params = {k: v for k, v in self.params.items() if k not in before}
        else:
            logs = self.run_dir / "logs"
            if logs.exists():  # a resumed run's: written again below from history.csv
                shutil.rmtree(logs)
            if name == "csv":
                from pytorch_lightning.loggers import CSVLogger

                self.logger = CSVLogger(self.run_dir, name="logs", version="", flush_logs_every_n_steps=1)
            else:
                from lightning_fabric.loggers import TensorBoardLogger

                self.logger = TensorBoardLogger(self.run_dir, name="logs", version="", default_hp_metric=False)
        if name != "tensorboard" and self.params:  # TensorBoard's HPARAMS tab wants the metrics with them: see finish
            self.logger.log_hyperparams(self.params)
        for row in _history(self.run_dir / "history.csv", resumed_epochs):
            self.epoch(row)

    def epoch(self, row: dict) -> None:
        """One row of history.csv (the epoch its step), unless the logger has it already."""
        if row["epoch"] <= self.logged:
            return
        self.logger.log_metrics({k: row[k] for k in metrics.HISTORY_COLUMNS if k != "epoch"}, step=row["epoch"])
        self.logged = row["epoch"]

    def finish(self, result: dict) -> None:
        """The final error of each measured split (of the best checkpoint, as metrics.json has them), and the end."""
        from dltool.runs import split_errors

        final = {f"final/{k}_error": e for k, e in split_errors(result).items() if e is not None}
        step = result.get("epochs") or 0
        if self.name == "tensorboard":
            self.logger.log_hyperparams(self.params, metrics=final, step=step)
        elif final:
            self.logger.log_metrics(final, step=step)
        self.close(result.get("status", "failed"))

    def close(self, status: str) -> None:
        self.logger.finalize(STATUS.get(status, "FAILED") if self.name == "mlflow" else status)


def open_tracker(t: dict, run_dir: Path, config: dict, resumed_epochs: int = 0) -> Tracker | None:
    """The run's Tracker for the checked trainer dict ``t``; None for ``none`` and for a fast_dev_run."""
    if t["logger"] == "none" or t["fast_dev_run"]:
        return None
    return Tracker(t["logger"], run_dir, config, resumed_epochs)


def _mlflow_run(uri: str, artifacts: Path) -> str | None:
    """The id of the run's MLflow run in its own store, None where there is none yet (a new run, or a copy made by
    --resume with --name); the store's experiment is created here, its artifacts in the run folder too."""
    import logging

    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables...": not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        client.create_experiment(EXPERIMENT, artifact_location=artifacts.resolve().as_uri())
        return None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"], max_results=1)
    return runs[0].info.run_id if runs else None


def _history(path: Path, epochs: int) -> list[dict]:
    """The rows of history.csv up to ``epoch`` ``epochs`` (those a resumed run keeps), as numbers."""
    if not epochs or not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [{k: int(v) if k == "epoch" else float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return [r for r in rows if r["epoch"] <= epochs]
