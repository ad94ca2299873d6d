"""Course 3's error analysis, ``dltool errors``: sample the mistakes of a split into a sheet, tally the sheet once a
person has tagged them.

The course's method: take about 100 mistakes of the dev set, look at each, tick the categories it falls into (a dog
taken for a cat, a great cat, a blurry image, a wrong label; a column for any category found on the way), then count.
A category's share of the mistakes is a ceiling: fixing every mistake of it lowers the error by at most error x share
(dev error 10 %, 5 of 100 mistakes dogs: fixing dogs brings it to 9.5 % at best), which says which idea is worth the
work. Categories overlap, so the shares need not sum to 1.

The split is rebuilt and predicted exactly as ``dltool evaluate`` does (``dltool.restore.split_predictions``); which
examples are mistakes is the task's (``Task.mistakes``): classification's wrong class, multi-label's example with any
known label wrong, a translation or a recognized digit string not exactly the reference, a sentence whose entities
are not all found right; how each is written is the task's too (``Task.describe``): text examples (a date to
translate, a sentence to tag) get an ``input`` column and no picture. Segmentation has no per-example right or wrong
and is refused. Sampling is seeded
(``numpy.random.default_rng(seed)``): same run, split and seed, same sheet. Files are written atomically, the picture
first and ``errors-<split>.json`` (what was sampled) last; a sheet with a person's work in it is never overwritten
without ``--force``.
"""

from __future__ import annotations

import csv
import io
import re
import shlex
from pathlib import Path

from dltool.remedies import SHEET_TASKS
from dltool.errors import UserError, check_number, choices, first_line
from dltool.metrics import SPLITS
from dltool.runs import read_config, read_metrics, run_name, write_json, write_text

FIXED = ("index", "true", "predicted", "confidence")  # the first columns of every sheet; ``note`` is the last
TEXT_FIXED = ("index", "input", "true", "predicted", "confidence")  # those of a sheet of text examples (Task.describe)
NOTE = "note"
RESERVED = (*TEXT_FIXED, NOTE)
DEFAULT_TAGS = "dog,great_cat,blurry,mislabeled"  # the course's categories
DEFAULT_N = 100  # the course looks at about 100 mistakes
MAX_PANELS = 64  # the picture shows at most this many of the sampled mistakes
SHEET_NAME = re.compile(r"errors-(train|train_dev|dev|test)\.csv")
SHARE_TASKS = ("classify", "seq2seq")  # whose error is the share of examples that are mistakes
MISLABELED = re.compile(r"mislabel", re.IGNORECASE)
MISLABEL_ADVICE = "fix labels in dev and test alike, and look at some examples it got right too"


def parse_tags(text: str) -> list[str]:
    """``"dog,great_cat"`` -> ``["dog", "great_cat"]``; an empty, repeated or reserved name is a UserError."""
    return check_tags([part.strip() for part in text.split(",")], f"--tags {text!r}")


def check_tags(tags: list[str], where: str) -> list[str]:
    seen: set[str] = set()
    for tag in tags:
        if not tag:
            raise UserError(f"{where} has an empty tag name: name each tag, e.g. --tags {DEFAULT_TAGS}")
        if tag.lower() in RESERVED:
            raise UserError(f"{where}: tag '{tag}' is a column every sheet has; tags may not be {choices(RESERVED)}")
        if tag.lower() in seen:
            raise UserError(f"{where}: tag '{tag}' is given twice; give each tag once")
        seen.add(tag.lower())
    if not tags:
        raise UserError(f"{where} has no tags: give at least one, e.g. --tags {DEFAULT_TAGS}")
    return tags


def sample(wrong, n: int, seed: int):
    """The indices of up to ``n`` of the examples where ``wrong`` (a boolean array) is True, seeded, in order."""
    import numpy as np

    candidates = np.flatnonzero(wrong)
    if len(candidates) <= n:
        return candidates
    return np.sort(np.random.default_rng(seed).choice(candidates, size=n, replace=False))


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserError(f"unknown --split '{split}'; choose from: {choices(SPLITS)}")
    return split


def sheet_path(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / f"errors-{split}.csv"


def next_command(run_dir: Path, sheet: Path) -> str:
    """The command that tallies ``sheet`` of ``run_dir``, as a user types it."""
    return f"dltool errors {shlex.quote(str(run_dir))} --tally {shlex.quote(str(sheet))}"


def make_sheet(run_dir, split: str = "dev", n: int = DEFAULT_N, tags: str = DEFAULT_TAGS, seed: int = 0,
               force: bool = False, overrides=()) -> dict:
    """Sample up to ``n`` mistakes of the run's ``split`` into RUN/errors-<split>.csv (index, true, predicted,
    confidence, one empty column a tag, note), RUN/errors-<split>.png (the examples) and RUN/errors-<split>.json (what
    was sampled). Every option is checked, and an existing sheet with filled cells refused, before anything loads."""
    import torch

    from dltool.restore import check_runtime_overrides, split_predictions

    run_dir = Path(run_dir)
    check_split(split)
    check_number(n, "--n", low=1, integer=True)
    tag_list = parse_tags(tags)
    check_runtime_overrides(overrides)
    task = ((read_config(run_dir) or {}).get("task") or {}).get("name", "classify")
    if task not in SHEET_TASKS:  # the tasks whose Task has ``mistakes`` (a test holds them equal)
        raise UserError(f"run {run_name(run_dir)} learned task={task}, which has no per-example right or wrong to "
                        f"sample; dltool errors works for task {choices(SHEET_TASKS)}")
    sheet = sheet_path(run_dir, split)
    _check_overwrite(sheet, run_dir, force)

    setup, x, y_true, predictions = split_predictions(run_dir, split, overrides)
    as_tensors = {k: torch.from_numpy(v) for k, v in predictions.items()}
    wrong = setup.module.mistakes(as_tensors, torch.from_numpy(y_true)).numpy()
    chosen = sample(wrong, n, seed)
    # the sampled examples' inputs only (a split on disk is not read whole), in the sheet's order
    inputs = x[torch.as_tensor(chosen, dtype=torch.long, device=x.device)].cpu().numpy()
    rows = [{"index": int(i), **setup.module.describe(inputs[k], y_true[i], predictions["predicted"][i]),
             "confidence": float(predictions["confidence"][i])} for k, i in enumerate(chosen)]
    result = {"run": run_name(run_dir), "task": task, "split": split, "examples": len(y_true),
              "mistakes": int(wrong.sum()), "sampled": len(rows), "n": n, "seed": seed, "tags": tag_list,
              "sheet": None, "picture": None, "panels": 0, "next": None}
    if not rows:  # nothing wrong: nothing to analyse, and nothing written
        return result
    text = rows[0]["input"] is not None  # text examples are read in the sheet itself; others are drawn
    picture, panels = sheet.with_suffix(".png"), [] if text else rows[:MAX_PANELS]
    if panels:
        from dltool.sheet_report import contact_sheet

        title = (f"run {result['run']}: {len(rows)} of {result['mistakes']} mistakes on the {split} split"
                 + (f" (the first {MAX_PANELS} shown)" if len(rows) > MAX_PANELS else ""))
        contact_sheet(picture, inputs[:len(panels)].astype("float32"), panels, title)
    elif picture.exists():  # a picture of another sampling would pass for this one's
        picture.unlink()
    write_text(sheet, sheet_text(rows, tag_list))
    result.update(sheet=str(sheet), picture=str(picture) if panels else None, panels=len(panels),
                  next=next_command(run_dir, sheet))
    write_json(run_dir / f"errors-{split}.json", {k: result[k] for k in (
        "run", "task", "split", "examples", "mistakes", "sampled", "n", "seed", "tags")} | {"indices": [
            r["index"] for r in rows]})
    return result


def sheet_text(rows: list[dict], tags: list[str]) -> str:
    """The CSV of a new sheet: the fixed columns filled (``input`` too for text examples), the tag and note columns
    empty."""
    fixed = TEXT_FIXED if rows and rows[0]["input"] is not None else FIXED
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*fixed, *tags, NOTE])
    for r in rows:
        writer.writerow([*(r[k] for k in fixed[:-1]), f"{r['confidence']:.6f}", *("" for _ in tags), ""])
    return buffer.getvalue()


def _check_overwrite(sheet: Path, run_dir: Path, force: bool) -> None:
    """A UserError unless ``sheet`` is absent or untouched (no tag or note filled in), or ``force``."""
    if force or not sheet.exists():
        return
    try:
        tags, rows = read_sheet(sheet)
    except UserError as e:
        raise UserError(f"{sheet} exists and is not an errors sheet ({e}); --force replaces it") from None
    cells = sum(bool(r[t]) for r in rows for t in tags)
    notes = sum(bool(r[NOTE]) for r in rows)
    if cells or notes:
        raise UserError(f"{sheet} already has {_count(cells, 'filled tag cell')} and {_count(notes, 'note')}: tally "
                        f"it with `{next_command(run_dir, sheet)}`, or give --force to sample a new sheet over it")


def _count(k: int, what: str) -> str:
    return f"{k} {what}" + ("" if k == 1 else "s")


def read_sheet(path: Path) -> tuple[list[str], list[dict]]:
    """The tags (every column but index, true, predicted, confidence and note, in order) and the rows of a sheet, each
    cell stripped; a file that is not an errors sheet is a UserError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no sheet at {path}: `dltool errors RUN` writes RUN/errors-<split>.csv")
    try:
        table = [row for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read sheet {path}: {first_line(e)}") from None
    header = [cell.strip() for cell in table[0]] if table else []
    fixed = TEXT_FIXED if header[1:2] == ["input"] else FIXED
    if header[:len(fixed)] != list(fixed) or header.count(NOTE) != 1:
        raise UserError(f"{path} is not an errors sheet: its columns must be {', '.join(FIXED)} (with input after "
                        f"index for text), then the tags and {NOTE}; it has {', '.join(header) or 'none'}")
    tags = [c for c in header[len(fixed):] if c != NOTE]
    if not tags:
        raise UserError(f"{path} has no tag columns: add one a category between confidence and note "
                        f"(e.g. {DEFAULT_TAGS.replace(',', ', ')})")
    check_tags(tags, f"sheet {path}")
    rows = []
    for line, row in enumerate(table[1:], start=2):
        if len(row) > len(header):
            raise UserError(f"{path}, line {line}: {len(row)} cells, but the header has {len(header)} columns")
        cells = dict(zip(header, [c.strip() for c in row] + [""] * (len(header) - len(row))))
        cells["index"] = _index(cells["index"], path, line)
        rows.append(cells)
    if not rows:
        raise UserError(f"{path} has no rows: `dltool errors RUN` samples the mistakes into it")
    return tags, rows


def _index(cell: str, path: Path, line: int) -> int:
    try:
        value = float(cell)
    except ValueError:
        value = None
    if value is None or not value.is_integer() or value < 0:
        raise UserError(f"{path}, line {line}: index {cell!r} is not a row number of a split")
    return int(value)


def tally_counts(rows: list[dict], tags: list[str], error: float) -> dict:
    """Per tag: ``count`` (rows whose cell is filled: 1, x, anything), ``share`` of the rows, ``ceiling`` =
    error x share (how far fixing that category could lower the error) and ``error_after`` = error - ceiling;
    sorted by share, largest first (ties in column order)."""
    out = {}
    for tag in tags:
        count = sum(bool(r[tag]) for r in rows)
        share = count / len(rows)
        out[tag] = {"count": count, "share": share, "ceiling": error * share, "error_after": error - error * share}
    return dict(sorted(out.items(), key=lambda item: -item[1]["share"]))


def tally_sheet(run_dir, sheet, split: str | None = None) -> dict:
    """Read a filled sheet of run ``run_dir`` and tally it against the split's error in metrics.json. The split is
    ``split``, else the one in the sheet's name (errors-<split>.csv), else dev. A sheet whose rows cannot be of that
    split (an index past its end, or one that was not sampled, per RUN/errors-<split>.json) is refused."""
    run_dir, sheet = Path(run_dir), Path(sheet)
    named = SHEET_NAME.fullmatch(sheet.name)
    if split is not None:
        check_split(split)
        if named and named.group(1) != split:
            raise UserError(f"{sheet} is a sheet of the {named.group(1)} split, not of --split {split}: "
                            f"drop --split or give the {split} sheet")
    split = split or (named.group(1) if named else "dev")
    tags, rows = read_sheet(sheet)
    metrics = read_metrics(run_dir) or {}
    figures = (metrics.get("splits") or {}).get(split)
    if not isinstance(figures, dict) or figures.get("error") is None:
        raise UserError(f"run {run_name(run_dir)} has no {split} error in its metrics.json (status: "
                        f"{metrics.get('status', 'unknown')})")
    error, size = float(figures["error"]), figures.get("n")
    record = _read_record(run_dir / f"errors-{split}.json")
    seen: set[int] = set()
    for r in rows:
        i = r["index"]
        if i in seen:
            raise UserError(f"{sheet}: index {i} appears twice; each mistake is one row")
        seen.add(i)
        if isinstance(size, int) and i >= size:
            raise UserError(f"{sheet}: index {i} is past the {size} examples of the {split} split of run "
                            f"{run_name(run_dir)}: is the sheet from another run or split?")
        if record is not None and i not in record["indices"]:
            raise UserError(f"{sheet}: index {i} is not one of the mistakes sampled from the {split} split of run "
                            f"{run_name(run_dir)} (errors-{split}.json): is the sheet from another run, split or "
                            f"sampling?")
    counts = tally_counts(rows, tags, error)
    notes = [f"{tag}: {MISLABEL_ADVICE}" for tag, t in counts.items() if MISLABELED.match(tag) and t["count"]]
    task = metrics.get("task", "classify")
    if record is None:
        notes.append(f"run {run_name(run_dir)} has no readable errors-{split}.json (what `dltool errors` sampled): "
                     f"the sheet's rows could not be checked against it")
    if task not in SHARE_TASKS:
        notes.append(f"task {task}: the {split} error is not a share of examples, so error x share is an estimate")
    return {"run": run_name(run_dir), "task": task, "split": split, "sheet": str(sheet), "error": error,
            "mistakes": None if record is None else record["mistakes"], "sampled": len(rows),
            "untagged": sum(not any(r[t] for t in tags) for r in rows), "tags": counts, "notes": notes}


def _read_record(path: Path) -> dict | None:
    """What ``make_sheet`` sampled (errors-<split>.json), or None where it is missing or unreadable."""
    import json

    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("indices"), list) and isinstance(record.get("mistakes"),
                                                                                            int)
    return {"indices": set(record["indices"]), "mistakes": record["mistakes"]} if ok else None
