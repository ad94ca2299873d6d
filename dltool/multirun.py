"""``dltool train -m optimizer.lr=0.1,0.01 model.hidden=[50],[100,100]``: Hydra's multirun, as a grid study of
dltool tune (every combination of the swept values once, resumable, trials in ``runs/<study>/trials/``, the winner
trained again for its test error). Hydra's sweep syntax: ``a=1,2,3`` and ``a=range(1,4)``; the other overrides hold
for every run."""

from __future__ import annotations

import math
from pathlib import Path

from dltool.errors import UserError, first_line


def sweep(overrides: list[str]) -> tuple[list[str], dict]:
    """The overrides of every run, and the space of the swept ones: ``{key: {"choices": [values]}}``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, RangeSweep
    from hydra.errors import OverrideParseException

    from dltool.config import GROUPS, OPTIONAL_GROUPS

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as e:
        raise UserError(f"cannot parse override: {first_line(e)}") from e
    fixed, space = [], {}
    for o in parsed:
        if not o.is_sweep_override():
            fixed.append(o.input_line)
            continue
        key = o.key_or_group
        if key in (*GROUPS, *OPTIONAL_GROUPS, "search"):
            raise UserError(f"{o.input_line}: a multirun sweeps config keys, not groups; run one multirun per "
                            f"{key} (e.g. {key}={o.value().list[0] if isinstance(o.value(), ChoiceSweep) else 'NAME'})")
        if not isinstance(o.value(), (ChoiceSweep, RangeSweep)) or o.is_delete() or o.is_add() or o.is_force_add():
            raise UserError(f"{o.input_line}: a multirun sweeps a key over values, as KEY=A,B,C or KEY=range(START,STOP)")
        values = list(o.sweep_iterator())
        if not values:
            raise UserError(f"{o.input_line} sweeps no values")
        space[key] = {"choices": values}
    if not space:
        raise UserError("-m/--multirun needs a swept override, e.g. optimizer.lr=0.1,0.01")
    return fixed, space


def run_multirun(overrides: list[str], name: str | None, runs_dir: Path, config: Path | None,
                 seed: int | None) -> dict:
    """Every combination of the swept values, trained once as a grid study; tune's summary of it."""
    from dltool.config import compose
    from dltool.tune import TuneOptions, run_study

    fixed, space = sweep(overrides)
    if any(o.startswith("search=") for o in fixed):
        raise UserError("a multirun searches the swept keys: drop search= (or use dltool tune search=NAME)")
    cfg = compose(fixed + ([f"seed={seed}"] if seed is not None else []), config_file=config)
    points = math.prod(len(spec["choices"]) for spec in space.values())
    opts = TuneOptions(overrides=fixed, config=config, seed=seed, sampler="grid", trials=points, space=space,
                       name=name or f"multirun-{cfg.model.name}-{cfg.data.name}", runs_dir=Path(runs_dir))
    return run_study(opts)
