"""Compose run configs from ``conf/`` with Hydra's compose API, and turn Hydra's errors into one-line messages.

A composed config is complete and concrete: every interpolation (``${...}``) is resolved, every key is one that dltool
reads (a key added with ``+`` that nothing reads is a mistake, not a silent no-op), and no key is removed (``~``).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dltool.errors import UserError, choices, first_line

if TYPE_CHECKING:
    from omegaconf import DictConfig

GROUPS = ("task", "model", "data", "optimizer", "scheduler", "trainer")
OPTIONAL_GROUPS = ("experiment",)  # settings across groups; not a key of the composed config
MAX_CONFIG_BYTES = 1 << 20  # a run config is a few KB; a larger --config file is not one


def conf_dir() -> Path:
    """The config folder: ``dltool/conf`` in an installed copy, ``conf/`` beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise RuntimeError(f"dltool's configs are missing: no config.yaml in {here / 'conf'} or {here.parent / 'conf'}")


CONFIG_DIR_ENV = "DLTOOL_CONFIG_DIR"  # a folder of the user's own options (model/wide.yaml, experiment/mine.yaml)


def user_conf_dir() -> Path | None:
    """The user's config folder (``--config-dir DIR`` or ``$DLTOOL_CONFIG_DIR``), searched after dltool's own
    ``conf/``: its ``model/wide.yaml`` is ``model=wide``. None when none is given; a UserError when it is no folder."""
    import os

    value = os.environ.get(CONFIG_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise UserError(f"config folder not found: {value} (--config-dir or ${CONFIG_DIR_ENV} names a folder of "
                        f"group folders, e.g. DIR/model/NAME.yaml)")
    return path


@contextmanager
def config_dir(path: str | Path | None):
    """While it lasts, compose also searches ``path`` (as ``$DLTOOL_CONFIG_DIR``, which tuning workers in other
    processes inherit); it is checked on entry. Nothing changes for None."""
    import os

    if path is None:
        yield
        return
    before = os.environ.get(CONFIG_DIR_ENV)
    os.environ[CONFIG_DIR_ENV] = str(path)
    try:
        user_conf_dir()
        yield
    finally:
        if before is None:
            os.environ.pop(CONFIG_DIR_ENV, None)
        else:
            os.environ[CONFIG_DIR_ENV] = before


def group_options(group: str) -> list[str]:
    """The option names of one config group, e.g. ``["adam", "momentum", "rmsprop", "sgd"]``, with the user's own
    (user_conf_dir) among them."""
    folders = [conf_dir(), *filter(None, [user_conf_dir()])]
    return sorted({p.stem for folder in folders for p in (folder / group).glob("*.yaml")})


def option_config(group: str, name: str) -> dict:
    """The keys of one option of a config group as composing ``group=name`` puts them in the config, read from its
    YAML file alone (dltool's own first, then the user's folder, the order of Hydra's search path here): for the
    groups whose options have no defaults list (the models), without a composition each."""
    for folder in [conf_dir(), *filter(None, [user_conf_dir()])]:
        path = folder / group / f"{name}.yaml"
        if path.is_file():
            return read_yaml(path, f"{group} config")
    raise UserError(f"unknown {group} '{name}'; choose from: {choices(group_options(group))}")


def compose(overrides: list[str] | tuple[str, ...] = (), config_file: str | Path | None = None) -> DictConfig:
    """Compose the run config from the defaults (or a saved ``config.yaml``) plus command-line overrides.

    Struct mode stays on, so an unknown key fails. Raises UserError with a one-line message for any mistake.
    """
    from omegaconf import OmegaConf

    overrides = list(overrides)
    if config_file:
        cfg = _compose_file(config_file, overrides)
        schema = _hydra_compose([f"{g}={_option(cfg, g)}" for g in GROUPS if g != "trainer" and _option(cfg, g)])
        where = f" in {config_file}"
    else:
        cfg = _hydra_compose(overrides)
        schema = _hydra_compose([o for o in overrides if o.split("=", 1)[0] in GROUPS + OPTIONAL_GROUPS])
        where = ""
    _check_keys(cfg, schema, where)
    _resolve(cfg)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"missing required value: {choices(missing)} (give it as key=value, e.g. {missing[0]}=...)")
    OmegaConf.set_struct(cfg, True)
    return cfg


def _option(cfg, group: str) -> str | None:
    """The option of ``group`` that a saved config was composed from: its name (``data.name`` may be the user's own
    label, e.g. ``data=csv data.name=flowers``: then its loader names the option)."""
    node = cfg.get(group)
    if not hasattr(node, "get"):
        return None
    name = node.get("name")
    if group == "data" and name not in group_options("data"):
        return node.get("loader")
    return name


def _fill_added(cfg, schema) -> None:
    """Give a saved config the keys its group options have gained since it was saved (a run of an older dltool, before
    ``model.init_from`` say), at their defaults: a key is only ever added with a default that keeps the old behaviour,
    so the old run still evaluates, resumes and starts new runs. Keys it has that nothing reads stay errors."""
    from omegaconf import DictConfig, open_dict

    for key in schema.keys():
        ref = schema._get_node(key)
        if key not in cfg.keys():
            with open_dict(cfg):
                cfg[key] = ref
        else:
            node = cfg._get_node(key)
            if isinstance(node, DictConfig) and isinstance(ref, DictConfig) and not node._is_none() \
                    and not ref._is_none():
                _fill_added(node, ref)


def _check_keys(cfg, schema, where: str = "") -> None:
    """Every key of ``cfg`` is one of ``schema`` (the defaults of the chosen group options) and none is removed."""
    from omegaconf import DictConfig

    def walk(node, ref, prefix):  # keys(), not ``in``: a missing value (???) is not ``in`` a DictConfig
        for key in node.keys():
            full = f"{prefix}{key}"
            if key not in ref.keys():
                valid = f"valid keys of {prefix[:-1]}: {choices(ref.keys())}" if prefix else \
                    f"groups: {choices(GROUPS)}; top-level keys: seed"
                raise UserError(f"unknown key '{full}'{where}: nothing reads it; {valid}")
            a, b = node._get_node(key), ref._get_node(key)
            if isinstance(a, DictConfig) and isinstance(b, DictConfig) and not a._is_none() and not b._is_none():
                walk(a, b, f"{full}.")
        for key in ref.keys():
            if key not in node.keys():
                full = f"{prefix}{key}"
                group = f"; choose one with {full}=NAME: {choices(group_options(full))}" if full in GROUPS else ""
                raise UserError(f"{full} cannot be removed{where}: every run reads it; set a value instead{group}")

    walk(cfg, schema, "")


def _resolve(cfg) -> None:
    """Resolve every ``${...}`` in place, so that each part of the config (optimizer, augment, ...) sees values."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        where = _unresolvable(cfg)  # OmegaConf.resolve does not say where it failed
        text = f"{where[0]}={where[1]}" if where else "an interpolation"
        raise UserError(f"cannot resolve {text}: {first_line(e)}") from e


def _unresolvable(cfg, prefix: str = "") -> tuple[str, str] | None:
    """The dotted key and raw text of the first value of ``cfg`` whose interpolation fails."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for key in cfg.keys():
        node = cfg._get_node(key)
        if OmegaConf.is_dict(node) and not node._is_interpolation():
            found = _unresolvable(node, f"{prefix}{key}.")
            if found:
                return found
            continue
        try:
            value = cfg[key]
            if OmegaConf.is_config(value):
                OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException:
            return f"{prefix}{key}", str(node._value())
    return None


def _hydra_compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    user = user_conf_dir()
    quoted = str(user).replace("\\", "\\\\").replace("'", "\\'")
    search = [f"hydra.searchpath=['file://{quoted}']"] if user else []  # after conf/: a name of dltool's own wins
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=search + overrides)
    except MissingConfigException as e:
        group = (e.missing_cfg_file or "").split("/")[0]
        if group in GROUPS + OPTIONAL_GROUPS:
            wanted = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == group), "?")
            raise UserError(f"unknown {group} '{wanted}'; choose from: {choices(group_options(group))}") from e
        raise UserError(first_line(e)) from e
    except OverrideParseException as e:
        raise UserError(f"cannot parse override: {first_line(e)}") from e
    except ConfigCompositionException as e:
        raise UserError(_unknown_key_message(e, overrides)) from e
    except (ValueError, TypeError, OmegaConfBaseException) as e:  # e.g. an index into a list by name
        raise UserError(f"cannot apply overrides {' '.join(overrides)}: {first_line(e)}") from e


def _unknown_key_message(e: Exception, overrides: list[str]) -> str:
    """Name the bad key and the valid keys at its level, e.g. ``unknown key 'optimizer.lrr'; valid keys: lr, ...``."""
    key = getattr(e.__cause__, "full_key", None)
    if not key:
        return first_line(e)
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
    """A saved run config plus overrides, in the grammar of the command line: ``group=option`` swaps in that group's
    defaults (before any key, as Hydra applies its defaults list first); ``key=value``, ``+key=value``,
    ``++key=value`` and ``~key`` are applied by Hydra's own code for them. The keys the file's group options have
    gained since it was saved are filled in first (_fill_added), so that a ``~key`` removes what it names and
    compose's check then says so, as it does without ``--config``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from omegaconf import OmegaConf

    path = Path(path)
    try:
        cfg = OmegaConf.create(read_yaml(path, "config"))
    except UserError:
        raise
    except Exception as e:  # not a mapping, or values OmegaConf refuses
        raise UserError(f"cannot read config {path}: {first_line(e)}") from e
    expected = set(_hydra_compose([]).keys())
    if hasattr(cfg, "keys") and "task" not in cfg and set(cfg.keys()) == expected - {"task"}:
        cfg.task = _hydra_compose([]).task  # a run from before tasks were a config group: it classified
    if not hasattr(cfg, "keys") or set(cfg.keys()) != expected:
        raise UserError(f"{path} is not a dltool run config (expected top-level keys: {choices(sorted(expected))})")
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as e:
        raise UserError(f"cannot parse override: {first_line(e)}") from e
    swaps = [o for o in parsed if o.key_or_group in GROUPS + OPTIONAL_GROUPS and not o.is_delete()
             and not o.is_add() and not o.is_force_add()]
    for override in swaps:
        if override.key_or_group in OPTIONAL_GROUPS:
            raise UserError(f"{override.input_line}: an {override.key_or_group} sets a new config, and {path} is a "
                            f"saved one; start without --config, or give its keys as overrides")
        cfg[override.key_or_group] = _hydra_compose([override.input_line])[override.key_or_group]
    _fill_added(cfg, _hydra_compose([f"{g}={_option(cfg, g)}" for g in GROUPS if g != "trainer" and _option(cfg, g)]))
    OmegaConf.set_struct(cfg, True)
    _apply_keys(cfg, [o for o in parsed if all(o is not swap for swap in swaps)], path)
    return cfg


def _apply_keys(cfg, parsed: list, path: Path) -> None:
    """Apply key overrides to ``cfg`` as ``hydra_compose`` does (Hydra's own code: ``+`` adds, ``++`` adds or sets,
    ``~`` deletes), its errors as one line."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
    except ConfigCompositionException as e:
        key = getattr(e.__cause__, "full_key", None)
        if not key:
            raise UserError(f"{first_line(e)} ({path})") from e
        parent = key.rpartition(".")[0]
        node = OmegaConf.select(cfg, parent) if parent else cfg
        valid = f"valid keys of {parent}: {choices(node.keys())}" if parent and hasattr(node, "keys") else \
            f"groups: {choices(GROUPS)}; top-level keys: seed"
        raise UserError(f"unknown key '{key}' in {path}; {valid}") from e
    except (ValueError, TypeError, OmegaConfBaseException) as e:
        raise UserError(f"cannot apply overrides to {path}: {first_line(e)}") from e


def read_yaml(path: Path, what: str):
    """The YAML document in a user's file, read safely: one UserError line for a missing, unreadable, oversized or
    malformed file, and for YAML aliases (``*name``), which can expand a kilobyte into gigabytes (an alias bomb): a
    dltool config never needs them."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise UserError(f"{what} file {path} is over {MAX_CONFIG_BYTES >> 20} MB: not a dltool {what}")
        text = path.read_text()
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise UserError(f"{what} file {path} uses a YAML alias (*{event.anchor}): write the values out")
        return yaml.safe_load(text)
    except UserError:
        raise
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(f"cannot read {what} {path}: {getattr(e, 'strerror', None) or first_line(e)}") from e


def to_yaml(cfg: DictConfig) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(cfg, resolve=True)
