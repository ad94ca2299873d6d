"""``dltool config``: the composed config of a run, printed without training (what Hydra's ``--cfg job`` prints),
checked as ``dltool train`` checks it; and the help text that names the config groups and their options, which
``train``, ``tune`` and ``config`` show under ``-h``. Registers on the one app of dltool.cli_base; light imports only
at the top (``dltool --help`` lists this module's command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dltool.cli_base import Json, Overrides, command, print_json

# the groups of conf/ as -h lists them, with what each one chooses
GROUP_HELP = (("task", "what is learned"), ("model", "the network"), ("data", "the data set"),
              ("optimizer", "the update rule"), ("scheduler", "learning-rate decay"), ("trainer", "how it trains"),
              ("experiment", "a setting across groups"), ("search", "tune's space, search=NAME"))

ConfigDir = Annotated[Path | None, typer.Option(
    "--config-dir", help="A folder of your own config options, searched after dltool's conf/: DIR/model/wide.yaml is "
                         "model=wide, DIR/experiment/mine.yaml is experiment=mine (also $DLTOOL_CONFIG_DIR).",
    show_default=False)]


def groups_help() -> str:
    """A paragraph per config group: ``model=`` and its options, from conf/ (and the user's folder, where
    $DLTOOL_CONFIG_DIR names one). Read when the command line is built: a few directory listings, no Hydra."""
    from dltool.config import group_options
    from dltool.errors import UserError

    lines = []
    for group, what in GROUP_HELP:
        try:
            options = group_options(group)
        except UserError:  # a $DLTOOL_CONFIG_DIR that is not there: -h still works, the command will say so
            options = []
        lines.append(f"{group}= ({what}): {', '.join(options)}")
    return "Config groups (GROUP=OPTION; keys as GROUP.KEY=VALUE):\n\n" + "\n\n".join(lines)


def with_groups(fn):
    """Append the config groups and their options to a command's help (its docstring, which typer reads)."""
    import inspect

    fn.__doc__ = f"{inspect.cleandoc(fn.__doc__)}\n\n{groups_help()}"  # cleandoc: the text after it is not indented
    return fn


@with_groups
@command
def config(
    overrides: Overrides = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="Start from a saved config, e.g. runs/<run>/config.yaml.")] = None,
    config_dir: ConfigDir = None,
    check: Annotated[bool, typer.Option("--check", help="Also load the data and build the model and optimizer, as train does before its first epoch: every check train makes (a few seconds).")] = False,
    json_out: Json = False,
) -> None:
    """Print the composed config as YAML (what dltool train would run), without training.

    It is checked as train checks it: an unknown group, key or value is the same one-line error; --check also
    builds the data and model. --json prints it as JSON.

    Examples: dltool config optimizer=momentum optimizer.lr=0.5 | dltool config --config runs/RUN/config.yaml
    trainer.max_epochs=90 | dltool config experiment=mine --config-dir my_conf
    """
    from dltool.config import compose, to_yaml
    from dltool.config import config_dir as searching

    with searching(config_dir):
        cfg = compose(list(overrides or []), config_file=config_file)
        check_config(cfg, build=check)
    if json_out:
        from omegaconf import OmegaConf

        print_json(OmegaConf.to_container(cfg, resolve=True))
    else:
        typer.echo(to_yaml(cfg), nl=False)


def check_config(cfg, build: bool = False) -> None:
    """The checks of train that need neither torch nor data (every key, group and interpolation, in compose; the
    trainer's values and the seed here); with ``build``, all of them (dltool.train.build: the task, data, model,
    optimizer and schedule), still without a run folder or an epoch."""
    from dltool.errors import check_number
    from dltool.engine import check_trainer

    check_trainer(cfg.trainer)
    check_number(cfg.seed, "seed", low=0, integer=True)
    if build:
        from dltool.train import build as build_run

        build_run(cfg)
