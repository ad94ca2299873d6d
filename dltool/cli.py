"""The command line: the only module that reads argv. Each command parses, composes a config, calls one function,
and prints. Heavy libraries (torch, Lightning) are imported inside commands so that ``dltool --help`` is instant."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
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


@_command
def train(
    overrides: Overrides = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (a plain folder name); default <model>-<data>-<time>.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    config: Annotated[Optional[Path], typer.Option(help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same as the override seed=N).")] = None,
    json_out: Json = False,
) -> None:
    """Train one model and report error and loss on train, train-dev, dev and test.

    Examples: dltool train | dltool train model.keep_prob=0.8 optimizer=momentum scheduler=inverse_time |
    dltool train data=digits trainer.max_epochs=20 --name digits-mlp
    """
    from dltool.config import compose
    from dltool.train import train as run_training

    overrides = list(overrides or []) + ([f"seed={seed}"] if seed is not None else [])
    cfg = compose(overrides, config_file=config)
    result = run_training(cfg, runs_dir=runs_dir, name=name, progress=True)
    if json_out:
        print(json.dumps(result))
    else:
        from dltool.report import print_run

        print_run(result, runs_dir)


def main() -> None:
    app()
