"""Model registry: one file per family, each variant registered by name; ``create_model`` is the one entry point."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from dltool.errors import UserError, choices

# modules under dltool.models; importing one registers its models (layers and init hold shared pieces, no models)
FAMILIES = ("mlp", "cnn", "classic", "resnet", "mobilenet", "inception", "rnn", "transformer", "unet", "rnn_lm",
            "yolo", "attention_rnn", "transformer_seq2seq", "ctc_rnn", "brnn_tagger", "transformer_lm",
            "skipgram", "glove", "sentence")
_REGISTRY: dict[str, Callable] = {}
_TASKS: dict[str, tuple[str, ...]] = {}  # model name -> the tasks (dltool.tasks) whose outputs it can produce


def register_model(name: str, tasks: tuple[str, ...] = ("classify", "multilabel", "verify")
                   ) -> Callable[[Callable], Callable]:
    """Register a model class or function ``fn(input_shape, num_classes, **kwargs)`` under ``name``, for ``tasks``
    (a classifier puts out one score a class, which serves several yes/no labels as well, and its vector of features
    with a head of ``dim`` outputs is an embedding (task=verify): ``num_classes`` is the task's number of outputs)."""

    def decorate(fn: Callable) -> Callable:
        _REGISTRY[name] = fn
        _TASKS[name] = tuple(tasks)
        return fn

    return decorate


def check_serves(name: str, task: str) -> None:
    """A UserError naming the models that fit when model ``name`` cannot serve ``task`` (e.g. a classifier as a
    segmenter); nothing when it can. An unknown model is left to create_model to name."""
    _import_families()
    if name in _TASKS and task not in _TASKS[name]:
        fit = sorted(m for m, tasks in _TASKS.items() if task in tasks)
        raise UserError(f"model {name} does not serve task={task}; models that do: {choices(fit) or 'none'}")


def check_words(net, vocabulary) -> None:
    """A UserError when data of words (its ``vocabulary``: a list of words, ``<pad>`` and ``<unk>`` among them) meets
    a net that embeds none (no ``embed``), or one whose embedding has fewer rows (``words``) than the vocabulary;
    nothing for data of numbers."""
    if vocabulary is not None and getattr(net, "embed", None) is None:
        raise UserError("the data holds word ids and this model reads numbers: use a model that embeds words "
                        "(model=word_average or word_lstm for sentences, brnn_tagger for task=tag)")
    capacity = getattr(net, "words", None)
    if capacity is not None and vocabulary is not None and len(vocabulary) > capacity:
        raise UserError(f"the vocabulary has {len(vocabulary)} words (with <pad> and <unk>); model.words={capacity} "
                        f"embeds fewer: raise model.words or data.min_count")


TRANSFER_KEYS = ("init_from", "freeze")  # in every model's config; read by dltool.transfer, not by the net


def net_arguments(model: dict) -> dict:
    """A model config's arguments of the net itself: all but its name and the transfer keys."""
    return {k: v for k, v in model.items() if k != "name" and k not in TRANSFER_KEYS}


def count_parameters(module) -> int:
    """Learned numbers of a module: every parameter tensor's size, shared tensors counted once (as PyTorch lists them)."""
    return sum(p.numel() for p in module.parameters())


def model_names() -> list[str]:
    _import_families()
    return sorted(_REGISTRY)


def create_model(name: str, input_shape: tuple[int, ...], num_classes: int, **kwargs):
    """Build a registered model; unknown names and unknown arguments are UserErrors that list the valid ones."""
    _import_families()
    if name not in _REGISTRY:
        raise UserError(f"unknown model '{name}'; choose from: {choices(sorted(_REGISTRY))}")
    fn = _REGISTRY[name]
    params = list(inspect.signature(fn).parameters)[2:]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise UserError(f"model {name} has no parameter {', '.join(unknown)}; valid: {choices(params)}")
    return fn(tuple(input_shape), num_classes, **kwargs)


def _import_families() -> None:
    for family in FAMILIES:
        importlib.import_module(f"dltool.models.{family}")


def catalog(input_shape: tuple[int, ...], num_classes: int, configs: dict[str, dict]) -> list[dict]:
    """Each registered model built from its config for this data: its parameter count, or why it cannot take it."""
    rows = []
    for name in model_names():
        kwargs = net_arguments(configs.get(name, {}))
        try:
            net = create_model(name, input_shape, num_classes, **kwargs)
        except UserError as e:
            rows.append({"name": name, "parameters": None, "note": str(e)})
            continue
        rows.append({"name": name, "parameters": count_parameters(net), "note": ""})
    return rows
