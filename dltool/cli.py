"""The command line: the only module that reads argv. Each command parses, composes a config, calls one function,
and prints. Heavy libraries (torch, Lightning) are imported inside commands so that ``dltool --help`` is instant."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup


class _OneLineErrors(TyperGroup):
    """Usage mistakes (an unknown option or command, ``--seed abc``) are one line on stderr and exit code 2, like
    every other mistake, not click's usage box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        import sys

        from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click (pyproject's bound)

        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except NoArgsIsHelpError as e:  # plain `dltool`: the help, as before
            typer.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(0)
        except UsageError as e:
            command = " ".join(["dltool", *e.ctx.command_path.split()[1:]]) if e.ctx else "dltool"
            typer.echo(f"dltool: error: {e.format_message().strip()} (see {command} -h)", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("dltool: aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="dltool: train, tune and diagnose deep-learning experiments the way Ng's Deep Learning Specialization teaches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Overrides = Annotated[Optional[list[str]], typer.Argument(help="Config overrides key=value, e.g. model.hidden=[256,256] optimizer=momentum.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (logs go to stderr).")]


@app.callback()
def _root() -> None:
    """dltool: train, tune and diagnose deep-learning experiments the way Ng's Deep Learning Specialization teaches."""


def _command(fn):
    """Register a command whose UserError becomes one line on stderr and exit code 2 (DLTOOL_DEBUG=1: traceback)."""
    from dltool.errors import Interrupted, UserError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            if os.environ.get("DLTOOL_DEBUG"):
                raise
            typer.echo(f"dltool: error: {e}", err=True)
            raise typer.Exit(2) from None
        except Interrupted as e:
            typer.echo(f"dltool: {e}", err=True)
            raise typer.Exit(130) from None

    return app.command()(wrapper)


def _print_json(obj) -> None:
    """One JSON object on stdout; a float JSON cannot hold (NaN, infinity) is null, as in the files dltool writes."""
    from dltool.runs import finite

    print(json.dumps(finite(obj), allow_nan=False))


def _warn_unfinished(run_dir: Path) -> None:
    """evaluate and export read a run's best checkpoint: say so when it is from a run that did not complete."""
    from dltool.runs import run_status

    status = run_status(run_dir)
    if status not in ("completed", "diverged"):
        typer.echo(f"dltool: warning: run {run_dir.name} is {status}: its best checkpoint is from an unfinished run",
                   err=True)


@_command
def train(
    overrides: Overrides = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (a plain folder name); default <model>-<data>-<time>.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same as the override seed=N).")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue an interrupted or crashed run from its last checkpoint, or a finished one longer (with trainer.max_epochs=N; --name: as a new run).")] = None,
    json_out: Json = False,
) -> None:
    """Train one model and report error and loss on train, train-dev, dev and test.

    Examples: dltool train | dltool train model.keep_prob=0.8 optimizer=momentum scheduler=inverse_time |
    dltool train data=digits trainer.max_epochs=20 --name digits-mlp
    """
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
        from dltool.train import LONGER

        allowed = {f"trainer.{k}" for k in LONGER}
        if config or seed is not None or any(o.split("=", 1)[0] not in allowed for o in overrides):
            raise UserError("--resume continues a run as it was, or longer: it takes only trainer.max_epochs=N and "
                            "trainer.patience=N (no other overrides, --config or --seed)")
        run_dir = find_run(resume, runs_dir)
        cfg = compose(overrides, config_file=run_dir / "config.yaml")
        if name is not None:  # train longer as a new run, beside the old one
            from dltool.train import check_resumable

            check_resumable(cfg, run_dir)
            run_dir = copy_run(run_dir, runs_dir, name)
        result = run_training(cfg, resume=run_dir)
    else:
        result = run_training(compose(overrides, config_file=config), runs_dir=runs_dir, name=name, progress=True)
    if json_out:
        _print_json(result)
    else:
        from dltool.report import print_run

        print_run(result, runs_dir)
    if result["status"] == "diverged":  # a result, but not a good one: scripts must not take it for one
        typer.echo(f"dltool: run {result['run']} diverged after {result['epochs']} epochs (the loss became NaN or "
                   f"infinite); its numbers are those of epoch {result['best_epoch']}: try a lower optimizer.lr or "
                   "trainer.gradient_clip=1.0", err=True)
        raise typer.Exit(1)


@_command
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
    json_out: Json = False,
) -> None:
    """Search hyperparameters with Optuna on dev error: random or TPE, log and 1-beta scales, coarse-to-fine stages,
    pruning, constraints; resumable and parallel. The space is conf/search/<name>.yaml, chosen by search=<name>
    (default: the model's name).

    Examples: dltool tune --trials 30 | dltool tune search=lr trainer.max_epochs=20 --stages coarse:20,fine:10 |
    dltool tune --pruner hyperband --constraint 'parameters<=20000'
    """
    from dltool.tune import TuneOptions, run_study

    opts = TuneOptions(overrides=list(overrides or []), trials=trials, stages=stages, sampler=sampler, pruner=pruner,
                       min_epochs=min_epochs, grid_points=grid_points, constraints=list(constraint or []),
                       storage=storage, workers=workers, name=name, runs_dir=runs_dir, config=config, seed=seed,
                       heartbeat=heartbeat)
    summary = run_study(opts)
    if json_out:
        _print_json(summary)
    else:
        from dltool.report import print_study

        print_study(summary)


@_command
def curve(
    overrides: Overrides = None,
    sizes: Annotated[str, typer.Option(help="Training-set sizes, ascending subsets of the training split.")] = "250,500,1000,2000",
    workers: Annotated[int, typer.Option(help="Worker processes, each training one size at a time.")] = 1,
    name: Annotated[Optional[str], typer.Option(help="Curve name; default curve-<model>-<data>. The same name resumes.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed of every point (default: the config's).")] = None,
    json_out: Json = False,
) -> None:
    """A learning curve (course 3): train and dev error against the training-set size, the human level as a line,
    and what it means: more data helps, or bias that more data will not cure. Dev and test stay the same examples.

    Resumable and parallel (a study of dltool tune). Examples: dltool curve | dltool curve --sizes 300,1000,3000 |
    dltool curve model=cnn data=digits --sizes 100,300,1000 --workers 2
    """
    from dltool.curve import run_curve

    result = run_curve(list(overrides or []), sizes=sizes, workers=workers, name=name, runs_dir=runs_dir,
                       config=config, seed=seed, progress=not json_out)
    if json_out:
        _print_json(result)
    else:
        from dltool.curve_report import print_curve

        print_curve(result)


@_command
def models(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Data and model overrides, e.g. data=digits.", show_default=False)] = None,
    json_out: Json = False,
) -> None:
    """The registered models with their parameter counts on a data set (default MNIST-1D).

    Examples: dltool models | dltool models data=digits --json
    """
    from omegaconf import OmegaConf

    from dltool.config import compose, group_options
    from dltool.data import load_data
    from dltool.models import catalog

    from dltool.errors import UserError

    overrides = list(overrides or [])
    if any(o.startswith("model") for o in overrides):
        raise UserError("dltool models lists every model with its defaults: give data overrides only (e.g. data=digits)")
    cfg = compose(overrides)
    data = load_data(cfg.data, cfg.seed)
    configs = {name: OmegaConf.to_container(compose([f"model={name}", *overrides]).model) for name in group_options("model")}
    from dltool.tasks import task_class

    rows = catalog(data.input_shape, task_class(cfg.task.name).outputs(data.info), configs)
    if json_out:
        _print_json({"data": cfg.data.name, "input_shape": list(data.input_shape), "models": rows})
    else:
        from dltool.report import print_models

        print_models(rows, cfg.data.name, data.input_shape)


@_command
def diagnose(
    run: Annotated[Optional[str], typer.Argument(help="A run or a dltool tune study: a name in --runs-dir, or a path to its folder.", show_default=False)] = None,
    errors: Annotated[Optional[str], typer.Option(help="Errors of a model trained elsewhere: human=0.01,train=0.08,train_dev=0.09,dev=0.10,test=0.11.")] = None,
    human_error: Annotated[Optional[float], typer.Option(help="Human-level error (proxy for Bayes error), overriding the data set's.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Avoidable bias, variance, data mismatch and dev overfitting: the gap to work on first and what to try.

    A study gets every trial's gaps (bias- or variance-bound), the stages' trend and the winner's diagnosis.
    Examples: dltool diagnose my-run | dltool diagnose lr-mnist1d | dltool diagnose --errors human=0.01,train=0.08,dev=0.10
    """
    from dltool.diagnose import diagnose as diagnose_errors
    from dltool.diagnose import parse_errors
    from dltool.report import diagnose_run
    from dltool.errors import UserError
    from dltool.runs import find_run

    if (run is None) == (errors is None):
        raise UserError("give a run or a study (dltool diagnose RUN) or --errors human=...,train=...,dev=..., not both")
    from dltool.study_diagnosis import study_folder

    study = study_folder(run, runs_dir) if run is not None else None
    if study is not None:  # a dltool tune study: every trial's gaps, the stages' trend, the winner's ladder
        from dltool.study_report import diagnose_study, print_study_diagnosis

        result = diagnose_study(study, human_error=human_error)
        if json_out:
            _print_json(result)
        else:
            print_study_diagnosis(result)
        return
    if run is not None:
        result = diagnose_run(find_run(run, runs_dir), human_error=human_error)
    else:
        values = parse_errors(errors)
        if human_error is not None:
            values["human"] = human_error
        result = diagnose_errors(values)
    if json_out:
        _print_json(result)
    else:
        from dltool.report import print_diagnosis

        print_diagnosis(result)
        if run is not None:
            typer.echo(f"wrote diagnosis.json, diagnosis.md and diagnosis.png in {find_run(run, runs_dir)}", err=True)


@_command
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
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """One metric on one split from the run's best checkpoint, per class, confusion matrix, latency and size.

    Writes RUN/eval-<split>.json, RUN/predictions-<split>.csv and RUN/confusion-<split>.png; exits 1 when a
    --require is not met. Examples: dltool evaluate my-run --metric f1 | dltool evaluate my-run --split dev
    --require 'latency_ms<=2'
    """
    from dltool.evaluate import evaluate_run, parse_class_weights
    from dltool.runs import find_run

    run_dir = find_run(run, runs_dir)
    result = evaluate_run(
        run_dir, metric=metric, split=split, average=average, positive_label=positive_label,
        beta=beta, class_weights=parse_class_weights(class_weights) if class_weights else None, weight_by=weight_by,
        requires=require or (), overrides=overrides or (),
    )
    _warn_unfinished(run_dir)
    if json_out:
        _print_json(result)
    else:
        from dltool.report import print_evaluation

        print_evaluation(result)
    if not all(check["met"] for check in result["requirements"]):
        raise typer.Exit(1)


@_command
def export(
    run: Annotated[str, typer.Argument(help="A run name in --runs-dir, or a path to a run folder.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="safetensors (with metadata) or pt (a plain state_dict for torch.load).")] = "safetensors",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="File to write (or a folder, existing or ending in /, for model.<format>); default RUN/export/model.<format>.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Write the run's best weights as safetensors (or a PyTorch state_dict), atomically, to use outside dltool.

    The keys are the module's state_dict keys, input normalization included; the safetensors header holds the
    dltool version, run, model, classes and config.yaml. Examples: dltool export my-run |
    dltool export my-run --format pt --output model.pt
    """
    from dltool.export import export_run
    from dltool.runs import find_run

    run_dir = find_run(run, runs_dir)
    result = export_run(run_dir, fmt=fmt, output=output)
    _warn_unfinished(run_dir)
    if json_out:
        _print_json(result)
    else:
        from dltool.report import print_export

        print_export(result)


@_command
def gradcheck(
    overrides: Overrides = None,
    after: Annotated[int, typer.Option(help="Check again after this many training steps (some bugs show only then).")] = 0,
    batch: Annotated[int, typer.Option(help="Training examples in the checked batch.")] = 8,
    sample: Annotated[int, typer.Option(help="Entries checked a parameter tensor (all of a smaller one), seeded.")] = 20,
    eps: Annotated[float, typer.Option(help="The step of the two-sided difference.")] = 1e-6,
    json_out: Json = False,
) -> None:
    """Compare backprop's gradients with two-sided differences in float64 (course 2), per parameter tensor.

    Dropout off, the L2 term in the cost; bands: below 1e-6 fine, below 1e-4 check, else bug (exit code 1).
    Examples: dltool gradcheck | dltool gradcheck model=cnn data=digits --after 50 --json
    """
    from dltool.config import compose
    from dltool.gradcheck import check
    from dltool.train import build, keep_threads

    cfg = compose(list(overrides or []))
    with keep_threads():
        result = check(build(cfg), batch_size=batch, eps=eps, sample=sample, after=after, seed=cfg.seed)
    if json_out:
        _print_json(result)
    else:
        from dltool.report import print_gradcheck

        print_gradcheck(result)
    if result["band"] == "bug":
        raise typer.Exit(1)


@_command
def errors(
    run: Annotated[str, typer.Argument(help="A run name in --runs-dir, or a path to a run folder.", show_default=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Overrides of how the saved config runs, e.g. trainer.accelerator=cpu.", show_default=False)] = None,
    split: Annotated[Optional[str], typer.Option(help="train, train_dev, dev or test (default dev; with --tally, the sheet's).", show_default=False)] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="Mistakes to sample (default 100, the course's).", show_default=False)] = None,
    tags: Annotated[Optional[str], typer.Option(help="The sheet's category columns (default dog,great_cat,blurry,mislabeled).", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sampling (default 0): same seed, same sheet.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a sheet that already has filled tag cells or notes.")] = False,
    tally: Annotated[Optional[Path], typer.Option(help="Tally a filled sheet: count, share and ceiling per tag.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Error analysis (course 3): sample a split's mistakes into a sheet to tag by hand, then tally it.

    Writes RUN/errors-<split>.csv (index, true, predicted, confidence, a column a tag, note) and RUN/errors-<split>.png;
    --tally SHEET prints each tag's share of the mistakes and its ceiling (error x share). Examples:
    dltool errors my-run | dltool errors my-run --n 50 --tags dog,blurry | dltool errors my-run --tally runs/my-run/errors-dev.csv
    """
    from dltool.errors import UserError
    from dltool.runs import find_run
    from dltool.sheet import DEFAULT_N, DEFAULT_TAGS, make_sheet, tally_sheet

    run_dir = find_run(run, runs_dir)
    if tally is not None:
        given = [name for name, value in (("--n", n), ("--tags", tags), ("--seed", seed), ("--force", force or None),
                                          ("overrides", overrides or None)) if value is not None]
        if given:
            raise UserError(f"--tally reads a filled sheet: {' and '.join(given)} "
                            f"appl{'ies' if len(given) == 1 else 'y'} to sampling a new one")
        result = tally_sheet(run_dir, tally, split)
    else:
        result = make_sheet(run_dir, split or "dev", DEFAULT_N if n is None else n, DEFAULT_TAGS if tags is None
                            else tags, 0 if seed is None else seed, force=force, overrides=overrides or ())
        _warn_unfinished(run_dir)
    if json_out:
        _print_json(result)
    else:
        from dltool.sheet_report import print_sheet, print_tally

        (print_tally if tally is not None else print_sheet)(result)


@_command
def style(
    content: Annotated[Optional[str], typer.Option(help="Content image C: a PNG or JPEG, or china / flower (scikit-learn's sample photographs); default china.", show_default=False)] = None,
    style_image: Annotated[Optional[str], typer.Option("--style", help="Style image S, as --content; default flower.", show_default=False)] = None,
    features: Annotated[Optional[str], typer.Option(help="A run whose CNN gives the features (its best checkpoint); default a fixed random conv net seeded by --seed.", show_default=False)] = None,
    alpha: Annotated[float, typer.Option(help="Weight of the content cost in J = alpha J_content + beta J_style.")] = 10.0,
    beta: Annotated[float, typer.Option(help="Weight of the style cost.")] = 40.0,
    steps: Annotated[int, typer.Option(help="Adam steps on the pixels of G.")] = 300,
    lr: Annotated[float, typer.Option(help="Adam's learning rate (pixels are in [0, 1]).")] = 0.02,
    size: Annotated[int, typer.Option(help="Side of the square C, S and G are cropped and resized to.")] = 128,
    layers: Annotated[Optional[str], typer.Option(help="Style layers, LAYER or LAYER=WEIGHT separated by commas, e.g. features.0,features.1; default every conv block, equal weights.", show_default=False)] = None,
    content_layer: Annotated[Optional[str], typer.Option(help="The content cost's layer; default the middle conv block.", show_default=False)] = None,
    init: Annotated[str, typer.Option(help="G starts from content (C plus a little noise) or noise.")] = "content",
    seed: Annotated[int, typer.Option(help="Seed of the noise and of the random net: same seed, same image.")] = 0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The image to write (.png), with FILE-loss.png, FILE-side_by_side.png and FILE.json beside it; default style/<time>/.", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Name of the folder under style/ (instead of the time).", show_default=False)] = None,
    threads: Annotated[int, typer.Option(help="Torch threads (one is fastest at these sizes, and on a busy machine).")] = 1,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs (for --features).")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Neural style transfer (course 4; Gatys et al. 2015): optimize an image G so that its features match the
    content image's and its Gram matrices the style image's.

    Writes the image, its loss curve, content | style | result side by side, and style.json (settings, costs, time,
    the feature net). Examples: dltool style | dltool style --content me.jpg --style flower --steps 500 |
    dltool style --features my-cnn-run --output out.png
    """
    from dltool.style import style_transfer

    result = style_transfer(content=content, style=style_image, features=features, runs_dir=runs_dir, alpha=alpha,
                            beta=beta, steps=steps, lr=lr, size=size, layers=layers, content_layer=content_layer,
                            init=init, seed=seed, output=output, name=name, threads=threads,
                            progress=not json_out)
    if json_out:
        _print_json(result)
    else:
        from dltool.style_report import print_style

        print_style(result)


@_command
def sample(
    run: Annotated[str, typer.Argument(help="A task=lm run: a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    n: Annotated[int, typer.Option("--n", help="Names to draw.")] = 20,
    temperature: Annotated[float, typer.Option(help="Divides the scores before the softmax: below 1 safer names, above 1 stranger ones.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the draws: same seed, same names.")] = 0,
    max_length: Annotated[int, typer.Option(help="Characters a name at most (a name stops there if no end comes).")] = 30,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Draw new names from a language model (course 5's Dinosaurus Island), one character at a time from
    softmax(scores / temperature), and say which are new (not in the training split).

    Writes RUN/samples.txt. Examples: dltool sample my-lm-run | dltool sample my-lm-run --n 50 --temperature 0.7
    """
    from dltool.runs import find_run
    from dltool.sample import check_options, sample_run

    check_options(n, temperature, seed, max_length)  # before the run is looked up: a mistake in the options first
    run_dir = find_run(run, runs_dir)
    result = sample_run(run_dir, n=n, temperature=temperature, seed=seed, max_length=max_length)
    _warn_unfinished(run_dir)
    if json_out:
        _print_json(result)
        return
    for name, new in zip(result["names"], result["new"]):
        typer.echo(name if new else f"{name}  (a training name)")
    typer.echo(f"{result['new_count']} of {result['n']} new (not among the {result['training_names']:,} training "
               f"names), temperature {result['temperature']:g}, seed {result['seed']}; wrote {result['path']}")


@_command
def runs(
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    sort: Annotated[str, typer.Option(help="Column to sort by: name, started, dev_error, test_error, seconds, ...")] = "started",
    json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout.")] = False,
) -> None:
    """List and compare runs: errors on the four splits, the diagnosed focus, time."""
    from dltool.runs import RUN_COLUMNS, list_runs

    rows = list_runs(runs_dir, sort)
    if json_out:
        _print_json({"runs_dir": str(runs_dir), "runs": rows})
    elif csv_out:
        import csv
        import sys

        writer = csv.DictWriter(sys.stdout, fieldnames=RUN_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from dltool.report import print_runs

        print_runs(rows)


def main() -> None:
    app()
