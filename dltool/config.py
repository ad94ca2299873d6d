"""Compose run configs from ``conf/`` with Hydra's compose API, and turn Hydra's errors into one-line messages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dltool.errors import UserError, choices

if TYPE_CHECKING:
    from omegaconf import DictConfig

GROUPS = ("model", "data", "optimizer", "scheduler", "trainer")
OPTIONAL_GROUPS = ("experiment",)  # settings across groups; not a key of the composed config


def conf_dir() -> Path:
    """The config folder: ``dltool/conf`` in an installed copy, ``conf/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise RuntimeError(f"dltool's configs are missing: no config.yaml in {here / 'conf'} or {here.parent / 'conf'}")


def group_options(group: str) -> list[str]:
    """The option names of one config group, e.g. ``["adam", "momentum", "rmsprop", "sgd"]``."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def compose(overrides: list[str] | tuple[str, ...] = (), config_file: str | Path | None = None) -> DictConfig:
    """Compose the run config from the defaults (or a saved ``config.yaml``) plus command-line overrides.

    Struct mode stays on, so an unknown key fails. Raises UserError with a one-line message for any mistake.
    """
    from omegaconf import OmegaConf

    overrides = list(overrides)
    cfg = _compose_file(config_file, overrides) if config_file else _hydra_compose(overrides)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"missing required value: {choices(missing)} (give it as key=value, e.g. {missing[0]}=...)")
    OmegaConf.set_struct(cfg, True)
    return cfg


def _hydra_compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    except MissingConfigException as e:
        group = (e.missing_cfg_file or "").split("/")[0]
        if group in GROUPS + OPTIONAL_GROUPS:
            wanted = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == group), "?")
            raise UserError(f"unknown {group} '{wanted}'; choose from: {choices(group_options(group))}") from e
        raise UserError(_first_line(e)) from e
    except OverrideParseException as e:
        raise UserError(f"cannot parse override: {_first_line(e)}") from e
    except ConfigCompositionException as e:
        raise UserError(_unknown_key_message(e, overrides)) from e
    except (ValueError, TypeError, OmegaConfBaseException) as e:  # e.g. an index into a list by name
        raise UserError(f"cannot apply overrides {' '.join(overrides)}: {_first_line(e)}") from e


def _unknown_key_message(e: Exception, overrides: list[str]) -> str:
    """Name the bad key and the valid keys at its level, e.g. ``unknown key 'optimizer.lrr'; valid keys: lr, ...``."""
    key = getattr(e.__cause__, "full_key", None)
    if not key:
        return _first_line(e)
    parent, _, leaf = key.rpartition(".")
    if not parent:
        return f"unknown key or group '{leaf}'; groups: {choices(GROUPS)}; top-level keys: seed"
    from omegaconf import OmegaConf

    groups_only = [o for o in overrides if "." not in o.split("=", 1)[0]]
    node = OmegaConf.select(_hydra_compose(groups_only), parent)
    if node is None or not hasattr(node, "keys"):
        return f"unknown key '{key}': {parent} has no keys"
    return f"unknown key '{key}'; valid keys of {parent}: {choices(node.keys())}"


def _compose_file(path: str | Path, overrides: list[str]) -> DictConfig:
    """A saved run config plus overrides: ``group=option`` swaps in that group's defaults, ``key=value`` sets a key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as e:  # yaml errors come in several types
        raise UserError(f"cannot read config {path}: {_first_line(e)}") from e
    expected = set(_hydra_compose([]).keys())
    if not hasattr(cfg, "keys") or set(cfg.keys()) != expected:
        raise UserError(f"{path} is not a dltool run config (expected top-level keys: {choices(sorted(expected))})")
    OmegaConf.set_struct(cfg, True)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as e:
        raise UserError(f"cannot parse override: {_first_line(e)}") from e
    for override in parsed:
        key = override.key_or_group
        if key in GROUPS:
            cfg[key] = _hydra_compose([f"{key}={override.value()}"])[key]
        else:
            try:
                OmegaConf.update(cfg, key, override.value(), merge=False)
            except OmegaConfBaseException as e:
                raise UserError(f"unknown key '{key}' in {path}") from e
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(cfg, resolve=True)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
