"""Model registry: one file per family, each variant registered by name; ``create_model`` is the one entry point."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from dltool.errors import UserError, choices

# modules under dltool.models; importing one registers its models (layers and init hold shared pieces, no models)
FAMILIES = ("mlp", "cnn", "resnet", "mobilenet", "inception", "rnn", "transformer")
_REGISTRY: dict[str, Callable] = {}


def register_model(name: str) -> Callable[[Callable], Callable]:
    """Register a model class or function ``fn(input_shape, num_classes, **kwargs)`` under ``name``."""

    def decorate(fn: Callable) -> Callable:
        _REGISTRY[name] = fn
        return fn

    return decorate


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
        kwargs = {k: v for k, v in configs.get(name, {}).items() if k != "name"}
        try:
            net = create_model(name, input_shape, num_classes, **kwargs)
        except UserError as e:
            rows.append({"name": name, "parameters": None, "note": str(e)})
            continue
        rows.append({"name": name, "parameters": count_parameters(net), "note": ""})
    return rows
