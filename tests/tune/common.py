"""What the tune tests share: a fast study on the digits, its options, its trials.csv, a search space from text."""

from __future__ import annotations

import csv

from dltool.tune import TuneOptions

FAST = ["data=digits", "trainer.max_epochs=3"]


def space(tmp_path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return f"search={path}"


def options(tmp_path, *overrides, **kw) -> TuneOptions:
    return TuneOptions(overrides=[*FAST, *overrides], runs_dir=tmp_path / "runs", **{"progress": False, **kw})


def trial_states(summary_dir) -> list[dict]:
    return list(csv.DictReader((summary_dir / "trials.csv").open()))
