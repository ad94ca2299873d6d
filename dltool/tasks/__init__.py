"""Tasks: what is being learned. A task is a LightningModule (dltool.tasks.base.Task) that owns the loss, the
per-split figures with the one number ``error`` (lower is better, a fraction in [0, 1]), predictions and input
normalization; the network it trains is a plain ``nn.Module`` from dltool.models, its data a dict of arrays.

``conf/task/<name>.yaml`` mirrors ``dltool/tasks/<name>.py``; the module's ``TASK`` is the class, and the config's
keys (beside ``name``) are that class's own arguments. A new task is one file here and one config there.
"""

from __future__ import annotations

import importlib
import inspect

from dltool.errors import UserError, choices

TASKS = ("classify", "segment", "multilabel", "lm", "verify", "detect", "seq2seq", "ctc", "trigger", "tag",
         "embed")  # modules under dltool.tasks


def task_class(name: str):
    """The Task subclass registered as ``name``; an unknown name is a UserError listing the tasks."""
    if name not in TASKS:
        raise UserError(f"unknown task '{name}'; choose from: {choices(TASKS)}")
    return importlib.import_module(f"dltool.tasks.{name}").TASK


def task_arguments(name: str, args: dict) -> dict:
    """``args`` (the task config without its name) if the task takes each of them, else a UserError naming them."""
    cls = task_class(name)
    base = inspect.signature(cls.__base__.__init__).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    own = [k for k, p in inspect.signature(cls.__init__).parameters.items() if p.kind in named and k not in base]
    unknown = sorted(set(args) - set(own))
    if unknown:
        raise UserError(f"task {name} has no argument {', '.join(unknown)}; valid: {choices(own) or 'none'}")
    return args
