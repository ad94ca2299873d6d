"""Search spaces (``conf/search/<name>.yaml``) and the coarse-to-fine narrowing rule: pure functions, no Optuna state.

A space maps config keys to distributions, sampled the way course 2 teaches:

    optimizer.lr:        {low: 1.0e-4, high: 1.0e-1, scale: log}     # 10^r, r uniform in [-4, -1]
    optimizer.beta1:     {low: 0.8, high: 0.999, scale: log1m}        # 1 - 10^r: as much search near 0.999 as near 0.9
    model.keep_prob:     {low: 0.5, high: 1.0, limits: [0.05, 1.0]}   # linear; limits bound any widening
    trainer.batch_size:  {choices: [32, 64, 128, 256]}
    model.hidden:        {low: 32, high: 512, scale: log, type: int}

Narrowing (``narrow``): after a stage, each later stage samples a box around the best trials so far, per parameter,
in the parameter's own scale (log10 x for log, log10(1 - x) for log1m, x for linear):

1. take the top quarter of the completed trials by dev error (at least 2; all of them when fewer);
2. the new range spans their values, padded by a quarter of that span on each side (at least 5 % of the old width,
   so a range never collapses to a point), and stays inside the old range;
3. where the best trial lies in the outer 10 % of the old range at one end, that end moves out by half the old width
   instead (the optimum may lie beyond it: CS231n's advice), never past the parameter's limits;
4. choices keep those that appear among the top trials, in their original order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from dltool.errors import UserError, choices

SCALES = ("linear", "log", "log1m")
SPEC_KEYS = {"low", "high", "scale", "type", "choices", "limits"}
TOP_FRACTION, MIN_TOP, PAD, MIN_PAD, EDGE, WIDEN = 0.25, 2, 0.25, 0.05, 0.10, 0.5


@dataclass(frozen=True)
class Param:
    """One searched config key: a numeric range on a scale, or a list of choices."""

    key: str
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    integer: bool = False
    choices: tuple | None = None
    limits: tuple[float, float] = (-math.inf, math.inf)
    stage: str = ""  # set on narrowed choices: Optuna cannot change a categorical's choices under one name

    @property
    def name(self) -> str:
        """The parameter's name in Optuna: log1m keys are sampled as ``1-key`` on a log scale; narrowed choices as
        ``key[stage]``."""
        name = f"1-{self.key}" if self.scale == "log1m" else self.key
        return f"{name}[{self.stage}]" if self.stage else name

    def to_internal(self, value: float) -> float:
        if self.scale == "log":
            return math.log10(value)
        if self.scale == "log1m":
            return math.log10(1 - value)
        return float(value)

    def from_internal(self, u: float) -> float:
        value = 10 ** u if self.scale == "log" else 1 - 10 ** u if self.scale == "log1m" else u
        return round(value) if self.integer else value

    def internal_range(self) -> tuple[float, float]:
        a, b = self.to_internal(self.low), self.to_internal(self.high)
        return min(a, b), max(a, b)

    def internal_limits(self) -> tuple[float, float]:
        lo, hi = self.limits
        if self.scale == "log":
            return (math.log10(lo) if lo > 0 else -math.inf), (math.log10(hi) if hi < math.inf else math.inf)
        if self.scale == "log1m":  # x in [lo, hi] <=> log10(1 - x) in [log10(1 - hi), log10(1 - lo)]; x >= 0 always
            return (math.log10(1 - hi) if hi < 1 else -math.inf), (math.log10(1 - lo) if lo > 0 else 0.0)
        return lo, hi

    def suggest(self, trial):
        """Ask an Optuna trial for a value; returns the config value (lists and dicts come back decoded)."""
        if self.choices is not None:
            return decode(trial.suggest_categorical(self.name, [encode(c) for c in self.choices]))
        if self.scale == "log1m":
            return 1 - trial.suggest_float(self.name, 1 - self.high, 1 - self.low, log=True)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.scale == "log")
        return trial.suggest_float(self.name, self.low, self.high, log=self.scale == "log")

    def describe(self) -> list:
        """The range (or choices) as recorded in the study and in ``tune --json``."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


def encode(value):
    """Optuna's categorical choices must be None, bool, int, float or str: lists and dicts travel as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def decode(value):
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def search_dir() -> Path:
    from dltool.config import conf_dir

    return conf_dir() / "search"


def space_names() -> list[str]:
    from dltool.config import group_options

    return group_options("search")  # the user's own too (--config-dir DIR: DIR/search/NAME.yaml)


def _space_file(name: str) -> Path:
    """conf/search/<name>.yaml, else the user's DIR/search/<name>.yaml (--config-dir), else the first (missing)."""
    from dltool.config import user_conf_dir

    ours = search_dir() / f"{name}.yaml"
    user = user_conf_dir()
    if not ours.is_file() and user is not None and (user / "search" / f"{name}.yaml").is_file():
        return user / "search" / f"{name}.yaml"
    return ours


def load_space(name: str, cfg) -> list[Param]:
    """Read ``conf/search/<name>.yaml`` (or a YAML file path) and check each parameter against the run config ``cfg``."""
    from dltool.config import read_yaml

    path = Path(name) if name.endswith((".yaml", ".yml")) else _space_file(name)
    if not path.is_file():
        raise UserError(f"unknown search space '{name}'; choose from: {choices(space_names())} (or a .yaml file)")
    spec = read_yaml(path, "search space")  # safely: no tags, no aliases, one line for any fault
    params = (spec or {}).get("params") if isinstance(spec, dict) else None
    if not params or not isinstance(params, dict):
        raise UserError(f"search space {path} is empty: it needs a 'params' mapping of config keys to ranges")
    return [parse_param(key, value, cfg) for key, value in params.items()]


def parse_param(key: str, spec, cfg=None) -> Param:
    """Validate one parameter spec; ``cfg`` (the run config), when given, must have the key."""
    from omegaconf import OmegaConf

    where = f"search parameter '{key}'"
    if cfg is not None and OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
        raise UserError(f"{where}: the config has no key {key}")
    if not isinstance(spec, dict):
        raise UserError(f"{where}: expected a mapping such as {{low: 1.0e-4, high: 0.1, scale: log}} or {{choices: [...]}}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise UserError(f"{where}: unknown field {', '.join(sorted(unknown))}; fields: {choices(sorted(SPEC_KEYS))}")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise UserError(f"{where}: choices must be a non-empty list")
        return Param(key, choices=tuple(spec["choices"]))
    scale, integer = spec.get("scale", "linear"), spec.get("type", "float") == "int"
    if scale not in SCALES:
        raise UserError(f"{where}: unknown scale '{scale}'; choose from: {choices(SCALES)}")
    if spec.get("type", "float") not in ("float", "int"):
        raise UserError(f"{where}: type must be float or int")
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:
        raise UserError(f"{where}: needs numbers low < high, got low={low!r}, high={high!r}")
    if scale == "log" and low <= 0:
        raise UserError(f"{where}: a log scale needs low > 0, got {low!r}")
    if scale == "log1m" and not 0 <= low < high < 1:
        raise UserError(f"{where}: the log1m scale (1 - 10^r, for momentum and betas) needs 0 <= low < high < 1")
    if integer and scale == "log1m":
        raise UserError(f"{where}: an integer cannot use the log1m scale")
    limits = spec.get("limits", [-math.inf, math.inf])
    if not (isinstance(limits, list) and len(limits) == 2 and limits[0] <= low and high <= limits[1]):
        raise UserError(f"{where}: limits must be [min, max] around low and high")
    return Param(key, low, high, scale, integer, None, (float(limits[0]), float(limits[1])))


def narrow(param: Param, trials: list[tuple[float, object]]) -> Param:
    """The next stage's range for ``param`` from finished ``trials`` as (dev error, value) pairs (see the module doc)."""
    if not trials:
        return param
    ranked = sorted(trials, key=lambda t: t[0])
    top = ranked[:max(MIN_TOP, math.ceil(TOP_FRACTION * len(ranked)))]
    if param.choices is not None:
        seen = [encode(v) for _, v in top]
        return replace(param, choices=tuple(c for c in param.choices if encode(c) in seen))
    old_lo, old_hi = param.internal_range()
    width = old_hi - old_lo
    values = [param.to_internal(v) for _, v in top]
    best = param.to_internal(top[0][1])
    pad = max(PAD * (max(values) - min(values)), MIN_PAD * width)
    lo, hi = max(old_lo, min(values) - pad), min(old_hi, max(values) + pad)
    if best - old_lo <= EDGE * width:
        lo = old_lo - WIDEN * width
    if old_hi - best <= EDGE * width:
        hi = old_hi + WIDEN * width
    limit_lo, limit_hi = param.internal_limits()
    lo, hi = max(lo, limit_lo), min(hi, limit_hi)
    a, b = sorted((param.from_internal(lo), param.from_internal(hi)))
    if param.integer:
        a, b = math.floor(a), math.ceil(b)
        if a == b:
            b = a + 1
    return replace(param, low=a, high=b)


def parse_stages(text: str | None, trials: int) -> list[tuple[str, int]]:
    """``"coarse:30,fine:20"`` -> [("coarse", 30), ("fine", 20)]; no --stages means one stage of ``trials``."""
    if not text:
        return [("search", trials)]
    stages = []
    for part in text.split(","):
        name, sep, count = (s.strip() for s in part.partition(":"))
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise UserError(f"bad --stages part {part!r}: expected name:trials, e.g. coarse:30,fine:20")
        stages.append((name, int(count)))
    return stages
