"""The command line: the only modules that read argv. Each command parses, composes a config, calls one function,
and prints. Heavy libraries (torch, Lightning) are imported inside commands so that ``dltool --help`` is instant.
Here: the commands that train and read runs and studies (train, tune, curve, models, evaluate, export, runs); the
course's other tools (diagnose, gradcheck, errors, style, sample) are in dltool.cli_tools; what they share in
dltool.cli_base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltool import cli_tools  # noqa: F401  (registers diagnose, gradcheck, errors, style and sample on the app)
from dltool import cli_embed  # noqa: F401  (registers embeddings on the app)
from dltool import cli_visualize  # noqa: F401  (registers visualize on the app)
from dltool.cli_base import Json, Overrides, app, command, print_json, warn_unfinished
from dltool.cli_config import ConfigDir, with_groups  # and config

__all__ = ["app", "main"]


@with_groups
@command
def train(
    overrides: Overrides = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (a plain folder name); default <model>-<data>-<time>.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same as the override seed=N).")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue an interrupted or crashed run from its last checkpoint, or a finished one longer (with trainer.max_epochs=N; --name: as a new run).")] = None,
    config_dir: ConfigDir = None,
    multirun: Annotated[bool, typer.Option("--multirun", "-m", help="Hydra's multirun: one run per combination of the swept values (optimizer.lr=0.1,0.01 model.hidden=[50],[100]), as a grid study of dltool tune; --name names the study.")] = False,
    json_out: Json = False,
) -> None:
    """Train one model and report error and loss on train, train-dev, dev and test.

    Examples: dltool train | dltool train model.keep_prob=0.8 optimizer=momentum scheduler=inverse_time |
    dltool train data=digits trainer.max_epochs=20 --name digits-mlp | dltool train trainer.fast_dev_run=true
    """
    from dltool.config import config_dir as searching

    with searching(config_dir):
        if multirun:
            from dltool.errors import UserError
            from dltool.multirun import run_multirun

            if resume is not None:
                raise UserError("--resume continues one run; a multirun resumes when started again with the same --name")
            summary = run_multirun(list(overrides or []), name, runs_dir, config, seed)
            if json_out:
                print_json(summary)
            else:
                from dltool.report import print_study

                print_study(summary)
            return
        _train(overrides, name, runs_dir, config, seed, resume, json_out)


def _train(overrides, name, runs_dir, config, seed, resume, json_out) -> None:
    from dltool.config import compose
    from dltool.train import train as run_training

    from dltool.errors import UserError

    overrides = list(overrides or [])
    if seed is not None:
        if any(o.lstrip("+~").split("=", 1)[0] == "seed" for o in overrides):
            raise UserError(f"the seed is given twice (--seed {seed} and a seed= override): give it once")
        overrides.append(f"seed={seed}")
    if resume is not None:
        from dltool.runs import copy_run, find_run
        from dltool.resume import LONGER

        allowed = {f"trainer.{k}" for k in LONGER}
        if config or seed is not None or any(o.split("=", 1)[0] not in allowed for o in overrides):
            raise UserError("--resume continues a run as it was, or longer: it takes only trainer.max_epochs=N and "
                            "trainer.patience=N (no other overrides, --config or --seed)")
        run_dir = find_run(resume, runs_dir)
        cfg = compose(overrides, config_file=run_dir / "config.yaml")
        if name is not None:  # train longer as a new run, beside the old one
            from dltool.resume import check as check_resumable

            check_resumable(cfg, run_dir)
            run_dir = copy_run(run_dir, runs_dir, name)
        result = run_training(cfg, resume=run_dir)
    else:
        result = run_training(compose(overrides, config_file=config), runs_dir=runs_dir, name=name, progress=True)
    if result is None:  # a rank of several but 0 (torchrun): rank 0 reports the run
        return
    if json_out:
        print_json(result)
    else:
        from dltool.report import print_run

        print_run(result, runs_dir)
    debug = result.get("debug") or {}
    if debug.get("mode") == "overfit_batches" and not debug["learned"] and result["status"] != "diverged":
        typer.echo(f"dltool: run {result['run']} did not overfit {debug['examples']} examples (train error "
                   f"{debug['train_error']}): the model cannot learn them as it is", err=True)
        raise typer.Exit(1)
    if result["status"] == "diverged":  # a result, but not a good one: scripts must not take it for one
        typer.echo(f"dltool: run {result['run']} diverged after {result['epochs']} epochs (the loss became NaN or "
                   f"infinite); its numbers are those of epoch {result['best_epoch']}: try a lower optimizer.lr or "
                   "trainer.gradient_clip=1.0", err=True)
        raise typer.Exit(1)


@with_groups
@command
def tune(
    overrides: Overrides = None,
    trials: Annotated[int, typer.Option(help="Trials in total (a resumed study counts the ones it has).")] = 20,
    stages: Annotated[Optional[str], typer.Option(help="Coarse to fine, e.g. coarse:30,fine:20 (overrides --trials).")] = None,
    sampler: Annotated[str, typer.Option(help="random (course 2's advice), tpe or grid.")] = "random",
    pruner: Annotated[str, typer.Option(help="none, median or hyperband: stop poor trials early on dev error.")] = "none",
    min_epochs: Annotated[int, typer.Option(help="Epochs every trial runs before a pruner may stop it.")] = 3,
    grid_points: Annotated[int, typer.Option(help="Values per numeric parameter with --sampler grid.")] = 3,
    constraint: Annotated[Optional[list[str]], typer.Option(help="Satisficing metric, repeatable: latency_ms<=2, parameters<=20000.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (postgresql://..., sqlite:///..., journal:FILE); default runs/<study>/study.db.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes on the same storage.")] = 1,
    name: Annotated[Optional[str], typer.Option(help="Study name; default <search>-<data>. The same name resumes.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start every trial from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sampler and of every trial (default: the config's).")] = None,
    heartbeat: Annotated[float, typer.Option(help="Seconds between a running trial's signs of life; a trial silent for 4 of them is failed and re-queued.")] = 30.0,
    config_dir: ConfigDir = None,
    json_out: Json = False,
) -> None:
    """Search hyperparameters with Optuna on dev error: random or TPE, log and 1-beta scales, coarse-to-fine stages,
    pruning, constraints; resumable and parallel. The space is conf/search/<name>.yaml, chosen by search=<name>
    (default: the model's name).

    Examples: dltool tune --trials 30 | dltool tune search=lr trainer.max_epochs=20 --stages coarse:20,fine:10 |
    dltool tune --pruner hyperband --constraint 'parameters<=20000'
    """
    from dltool.config import config_dir as searching
    from dltool.tune import TuneOptions, run_study

    opts = TuneOptions(overrides=list(overrides or []), trials=trials, stages=stages, sampler=sampler, pruner=pruner,
                       min_epochs=min_epochs, grid_points=grid_points, constraints=list(constraint or []),
                       storage=storage, workers=workers, name=name, runs_dir=runs_dir, config=config, seed=seed,
                       heartbeat=heartbeat)
    with searching(config_dir):
        summary = run_study(opts)
    if json_out:
        print_json(summary)
    else:
        from dltool.report import print_study

        print_study(summary)


@command
def curve(
    overrides: Overrides = None,
    sizes: Annotated[Optional[str], typer.Option(help="Training-set sizes, e.g. 250,500,1000 (default: 1/8, 1/4, 1/2 and all of the training split).", show_default=False)] = None,
    workers: Annotated[int, typer.Option(help="Worker processes, each training one size at a time.")] = 1,
    name: Annotated[Optional[str], typer.Option(help="Curve name; default curve-<model>-<data>. The same name resumes.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed of every point (default: the config's).")] = None,
    config_dir: ConfigDir = None,
    json_out: Json = False,
) -> None:
    """A learning curve (course 3): train and dev error against the training-set size, the human level as a line,
    and what it means: more data helps, or bias that more data will not cure. Dev and test stay the same examples.

    Resumable and parallel (a study of dltool tune). Examples: dltool curve | dltool curve --sizes 300,1000,3000 |
    dltool curve model=cnn data=digits --sizes 100,300,1000 --workers 2
    """
    from dltool.config import config_dir as searching
    from dltool.curve import run_curve

    with searching(config_dir):
        result = run_curve(list(overrides or []), sizes=sizes, workers=workers, name=name, runs_dir=runs_dir,
                           config=config, seed=seed, progress=not json_out)
    if json_out:
        print_json(result)
    else:
        from dltool.curve_report import print_curve

        print_curve(result)


@command
def models(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Data and model overrides, e.g. data=digits.", show_default=False)] = None,
    json_out: Json = False,
) -> None:
    """The registered models with their parameter counts on a data set (default MNIST-1D).

    Examples: dltool models | dltool models data=digits --json
    """
    from dltool.config import compose, group_options, option_config
    from dltool.data import load_data
    from dltool.models import catalog

    from dltool.errors import UserError

    overrides = list(overrides or [])
    if any(o.startswith("model") for o in overrides):
        raise UserError("dltool models lists every model with its defaults: give data overrides only (e.g. data=digits)")
    cfg = compose(overrides)
    data = load_data(cfg.data, cfg.seed)
    configs = {name: option_config("model", name) for name in group_options("model")}  # a model's own defaults
    from dltool.tasks import task_class

    rows = catalog(data.input_shape, task_class(cfg.task.name).outputs(data.info), configs)
    if json_out:
        print_json({"data": cfg.data.name, "input_shape": list(data.input_shape), "models": rows})
    else:
        from dltool.report import print_models

        print_models(rows, cfg.data.name, data.input_shape)


@command
def evaluate(
    run: Annotated[str, typer.Argument(help="A run name in --runs-dir, or a path to a run folder.", show_default=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Overrides of the saved config, e.g. trainer.accelerator=cpu.", show_default=False)] = None,
    metric: Annotated[str, typer.Option(help="accuracy, error, precision, recall, f1, fbeta or weighted_error.")] = "error",
    split: Annotated[str, typer.Option(help="train, train_dev, dev or test.")] = "test",
    average: Annotated[str, typer.Option(help="For precision/recall/f1/fbeta: macro, micro, weighted or binary.")] = "macro",
    positive_label: Annotated[Optional[str], typer.Option(help="The class that --average binary scores.")] = None,
    beta: Annotated[float, typer.Option(help="Beta of fbeta (>1 weighs recall more).")] = 1.0,
    class_weights: Annotated[Optional[str], typer.Option(help="weighted_error's cost per class, e.g. 3=10,5=2 (others 1).")] = None,
    weight_by: Annotated[str, typer.Option(help="Weigh a mistake by its true or predicted class.")] = "true",
    require: Annotated[Optional[list[str]], typer.Option(help="Satisficing check, repeatable: latency_ms<=5, parameters<=20000, f1>=0.9.")] = None,
    ensemble: Annotated[Optional[list[str]], typer.Option(help="Another run to average probabilities with (classify, multilabel), repeatable: --ensemble b --ensemble c; same data and split seed.", show_default=False)] = None,
    tta: Annotated[Optional[int], typer.Option(help="Test-time augmentation: average over N shifted views of each example (1 = the plain input).", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """One metric on one split from the run's best checkpoint, per class, confusion matrix, latency and size.

    Writes RUN/eval-<split>.json, RUN/predictions-<split>.csv and RUN/confusion-<split>.png; exits 1 when a
    --require is not met. Examples: dltool evaluate my-run --metric f1 | dltool evaluate my-run --split dev
    --require 'latency_ms<=2' | dltool evaluate a --ensemble b --ensemble c --tta 5
    """
    from dltool.evaluate import evaluate_run, parse_class_weights
    from dltool.runs import find_run

    run_dir = find_run(run, runs_dir)
    result = evaluate_run(
        run_dir, metric=metric, split=split, average=average, positive_label=positive_label,
        beta=beta, class_weights=parse_class_weights(class_weights) if class_weights else None, weight_by=weight_by,
        requires=require or (), overrides=overrides or (),
        ensemble=[find_run(member, runs_dir) for member in ensemble or ()], tta=tta,
    )
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
    else:
        from dltool.report import print_evaluation

        print_evaluation(result)
    if not all(check["met"] for check in result["requirements"]):
        raise typer.Exit(1)


@command
def export(
    run: Annotated[str, typer.Argument(help="A run name in --runs-dir, or a path to a run folder.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="safetensors (with metadata), pt (a plain state_dict for torch.load) or onnx (the net with its input normalization, for onnxruntime; needs pip install 'dltool[onnx]').")] = "safetensors",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="File to write (or a folder, existing or ending in /, for model.<format>); default RUN/export/model.<format>.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Write the run's best weights as safetensors (or a PyTorch state_dict, or an ONNX model), atomically, to use
    outside dltool.

    The keys are the module's state_dict keys, input normalization included; the safetensors header holds the
    dltool version, run, model, classes and config.yaml (an ONNX file's metadata_props too). Examples: dltool export
    my-run | dltool export my-run --format pt --output model.pt | dltool export my-run --format onnx
    """
    from dltool.export import export_run
    from dltool.runs import find_run

    run_dir = find_run(run, runs_dir)
    result = export_run(run_dir, fmt=fmt, output=output)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
    else:
        from dltool.report import print_export

        print_export(result)


@command
def runs(
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    sort: Annotated[str, typer.Option(help="Column to sort by: name, started, dev_error, test_error, seconds, ..., or a config key the runs differ in (optimizer.lr).")] = "started",
    everything: Annotated[bool, typer.Option("--all", help="Also the runs inside studies (each trial, the retrained winner) and debug runs (trainer.fast_dev_run, trainer.overfit_batches).")] = False,
    json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout.")] = False,
) -> None:
    """List and compare runs: the config keys they differ in, errors on the four splits, the diagnosed focus,
    epochs, time, when each started.

    A diverged run shows its status; its errors only where an epoch before the divergence was kept (its best
    checkpoint). Examples: dltool runs | dltool runs --sort optimizer.lr | dltool runs --all --json
    """
    from dltool.run_list import RUN_COLUMNS, list_runs

    rows = list_runs(runs_dir, sort, everything)
    if json_out:
        print_json({"runs_dir": str(runs_dir), "runs": rows})
    elif csv_out:
        import csv
        import json
        import sys

        params = list(rows[0]["params"]) if rows else []
        writer = csv.DictWriter(sys.stdout, fieldnames=[*RUN_COLUMNS, *params], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**{k: r[k] for k in RUN_COLUMNS}, **{k: v if isinstance(v, (str, int, float)) or v is None
                                                              else json.dumps(v) for k, v in r["params"].items()}}
                         for r in rows)
    else:
        from dltool.report import print_runs

        print_runs(rows)


def main() -> None:
    app()
