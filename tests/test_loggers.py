"""trainer.logger: csv, tensorboard and mlflow read back with each tool's own reader (TensorBoard's EventAccumulator,
the MLflow client, the csv module): per epoch the numbers of history.csv under its names with the epoch as the step,
the config as flattened hyperparameters, the final errors of metrics.json; a resumed run keeps its logger run; a
missing package or an unknown name is one line."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest

from tests.conftest import invoke

TINY = ["data=synthetic", "data.shape=[8]", "data.n=400", "model.hidden=[16]", "trainer.baseline=false",
        "trainer.max_epochs=2", "optimizer.lr=0.05"]
COLUMNS = ("train_loss", "dev_loss", "dev_error", "lr", "seconds")  # history.csv's columns but the epoch (the step)


def train(runs, logger, *more, name="r"):
    result = invoke("train", *TINY, f"trainer.logger={logger}", *more, "--runs-dir", runs, "--name", name, "--json")
    assert result.exit_code == 0, result.output
    return runs / name


def history(run) -> dict[str, list[tuple[int, float]]]:
    with (run / "history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [(int(r["epoch"]), float(r[k])) for r in rows] for k in COLUMNS}


def final_errors(run) -> dict[str, float]:
    splits = json.loads((run / "metrics.json").read_text())["splits"]
    return {f"final/{k}_error": s["error"] for k, s in splits.items()}


def close(got: dict, want: dict, rel: float = 0.0) -> None:
    """Equal series (a float32 store such as TensorBoard's rounds to ``rel``)."""
    assert got.keys() == want.keys()
    for key in want:
        assert [s for s, _ in got[key]] == [s for s, _ in want[key]], key
        assert all(math.isclose(a, b, rel_tol=rel, abs_tol=0) for (_, a), (_, b) in zip(got[key], want[key])), key


def tensorboard_read(logs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(logs))
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return scalars, {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}


def mlflow_read(run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dltool")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # one logger run, resumed or not
    info = runs[0]
    keys = [*COLUMNS, *final_errors(run)]
    series = {k: sorted((m.step, m.value) for m in client.get_metric_history(info.info.run_id, k)) for k in keys}
    return info, series


def test_tensorboard_holds_history_the_config_and_the_final_errors(tmp_path):
    run = train(tmp_path, "tensorboard")
    scalars, hparams = tensorboard_read(run / "logs")
    final = final_errors(run)
    close({k: scalars[k] for k in COLUMNS}, history(run), rel=1e-6)  # TensorBoard stores float32
    close({k: scalars[k] for k in final}, {k: [(2, e)] for k, e in final.items()}, rel=1e-6)
    assert set(scalars) == {*COLUMNS, *final}
    assert hparams["optimizer.lr"] == 0.05 and hparams["model.name"] == "mlp"
    assert hparams["trainer.logger"] == "tensorboard"


def test_csv_holds_history_the_config_and_the_final_errors(tmp_path):
    import yaml

    run = train(tmp_path, "csv")
    with (run / "logs" / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [r for r in rows if r["train_loss"]]
    close({k: [(int(r["step"]), float(r[k])) for r in epochs] for k in COLUMNS}, history(run))  # exact
    final = final_errors(run)
    (last,) = [r for r in rows if not r["train_loss"]]
    assert int(last["step"]) == 2 and {k: float(last[k]) for k in final} == final
    params = yaml.safe_load((run / "logs" / "hparams.yaml").read_text())
    assert params["optimizer.lr"] == 0.05 and params["model.hidden"] == [16]


def test_mlflow_holds_history_the_config_and_the_final_errors_and_a_resumed_run_keeps_its_run(tmp_path):
    """Then trained longer in place (--resume, 2 then 3 epochs): the same MLflow run, each epoch once, the final
    errors of both ends."""
    run = train(tmp_path, "mlflow")
    info, series = mlflow_read(run)
    final = final_errors(run)
    close({k: series[k] for k in COLUMNS}, history(run))  # exact: MLflow keeps doubles
    close({k: series[k] for k in final}, {k: [(2, e)] for k, e in final.items()})
    assert info.data.params["optimizer.lr"] == "0.05" and info.data.params["data.n"] == "400"
    assert info.info.status == "FINISHED" and info.info.run_name == "r"

    result = invoke("train", "--resume", run, "trainer.max_epochs=3", "--json")
    assert result.exit_code == 0, result.output
    again, series = mlflow_read(run)
    assert again.info.run_id == info.info.run_id and again.info.status == "FINISHED"
    assert again.data.params["trainer.max_epochs"] == "2" and again.data.tags["trainer.max_epochs"] == "3"
    close({k: series[k] for k in COLUMNS}, history(run))
    assert [s for s, _ in series["final/dev_error"]] == [2, 3]
    assert series["final/dev_error"][-1][1] == final_errors(run)["final/dev_error"]


def test_a_resumed_run_writes_its_tensorboard_files_again(tmp_path):
    """Trained longer in place: the event files equal history.csv, each epoch once, the final errors of the end."""
    run = train(tmp_path, "tensorboard")
    assert invoke("train", "--resume", run, "trainer.max_epochs=3").exit_code == 0
    scalars, _ = tensorboard_read(run / "logs")
    close({k: scalars[k] for k in COLUMNS}, history(run), rel=1e-6)
    assert [s for s, _ in scalars["final/dev_error"]] == [3]


def test_a_fast_dev_run_logs_nothing(tmp_path):
    run = train(tmp_path, "csv", "trainer.fast_dev_run=true")
    assert not (run / "logs").exists()


@pytest.mark.parametrize("logger,module,command", [("tensorboard", "tensorboard", "pip install 'dltool[tensorboard]'"),
                                                   ("mlflow", "mlflow", "pip install 'dltool[mlflow]'")])
def test_a_missing_package_is_one_line_before_training(tmp_path, monkeypatch, logger, module, command):
    monkeypatch.setitem(sys.modules, module, None)  # import mlflow now raises ImportError, as when it is not installed
    result = invoke("train", *TINY, f"trainer.logger={logger}", "--runs-dir", tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and lines == [f"dltool: error: trainer.logger={logger} needs the {module} package: "
                                               f"{command}"], result.output
    assert not any(tmp_path.iterdir())  # no run folder


def test_an_unknown_logger_is_one_line_with_the_choices(tmp_path):
    result = invoke("train", *TINY, "trainer.logger=wandb", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        "dltool: error: unknown trainer.logger 'wandb'; choose from: none, csv, tensorboard, mlflow"]
    assert not any(tmp_path.iterdir())
