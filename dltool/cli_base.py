"""What every command of the command line shares: the app and its one-line usage errors, the command decorator that
turns a UserError into one line and exit code 2, and the JSON printer. The commands live in dltool.cli (train, tune,
curve, models, evaluate, export, runs), dltool.cli_tools (diagnose, gradcheck, errors, style, sample), dltool.cli_embed
(embeddings) and dltool.cli_visualize (visualize)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup


ORDER = ("train", "config", "tune", "curve", "diagnose", "errors", "evaluate", "export", "runs", "models",
         "gradcheck", "style", "visualize", "sample", "translate", "tag", "embeddings")


class _OneLineErrors(TyperGroup):
    """Usage mistakes (an unknown option or command, ``--seed abc``) are one line on stderr and exit code 2, like
    every other mistake, not click's usage box."""

    def list_commands(self, ctx) -> list[str]:
        """``dltool --help`` lists the commands in the order of the course's workflow, not as they were imported."""
        known = [name for name in ORDER if name in self.commands]
        return known + sorted(set(self.commands) - set(known))

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
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _complete_override(incomplete: str) -> list[str]:
    """Shell completion of an override (after --install-completion): a group (``mod`` -> ``model=``), then its
    options (``model=c`` -> ``model=cnn``, ``model=cnn_paper``)."""
    from dltool.config import GROUPS, OPTIONAL_GROUPS, group_options
    from dltool.errors import UserError

    groups = (*GROUPS, *OPTIONAL_GROUPS, "search")
    group, eq, option = incomplete.partition("=")
    try:
        if eq and group in groups:
            return [f"{group}={o}" for o in group_options(group) if o.startswith(option)]
    except UserError:  # a $DLTOOL_CONFIG_DIR that is not there: the command will say so
        return []
    return [f"{g}=" for g in groups if g.startswith(incomplete)]


Overrides = Annotated[Optional[list[str]], typer.Argument(help="Config overrides key=value, e.g. model.hidden=[256,256] optimizer=momentum.", show_default=False, autocompletion=_complete_override)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (logs go to stderr).")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"dltool {version('dltool')}")
        except PackageNotFoundError:  # a checkout on sys.path, not installed
            typer.echo("dltool (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    _show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print dltool's version and exit.")] = False,
) -> None:
    """dltool: train, tune and diagnose deep-learning experiments the way Ng's Deep Learning Specialization teaches."""


def command(fn):
    """Register a command whose UserError becomes one line on stderr and exit code 2 (DLTOOL_DEBUG=1: traceback)."""
    from dltool.errors import Interrupted, RunFailed, UserError

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
        except RunFailed as e:
            typer.echo(f"dltool: error: {e}", err=True)
            raise typer.Exit(1) from None

    return app.command()(wrapper)


def print_json(obj) -> None:
    """One JSON object on stdout; a float JSON cannot hold (NaN, infinity) is null, as in the files dltool writes."""
    from dltool.runs import finite

    print(json.dumps(finite(obj), allow_nan=False))


def warn_unfinished(run_dir: Path) -> None:
    """evaluate and export read a run's best checkpoint: say so when it is from a run that did not complete."""
    from dltool.runs import run_status

    status = run_status(run_dir)
    if status not in ("completed", "diverged"):
        typer.echo(f"dltool: warning: run {run_dir.name} is {status}: its best checkpoint is from an unfinished run",
                   err=True)
