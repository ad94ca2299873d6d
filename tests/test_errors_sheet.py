"""``dltool errors``: course 3's error-analysis sheet, sampled from a real run and tallied.

The sheet's rows are checked against ``dltool evaluate``'s own predictions CSV (computed apart from the sheet), the
tally against hand-worked numbers (the course's dev error 10 %, 5 of 100 mistakes dogs: ceiling 0.5 %), and every
mistake a user can make against the one-line, exit-2, nothing-written promise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from dltool.sheet import MISLABEL_ADVICE, sample, tally_counts
from tests.conftest import invoke

HEADER = ["index", "true", "predicted", "confidence", "dog", "great_cat", "blurry", "mislabeled", "note"]


def read(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write(path, header, rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def one_line(result, fragment: str) -> None:
    """A user's mistake: exit 2, one line on stderr naming it, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dltool: error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""


@pytest.fixture
def runs(digits_run, tmp_path):
    """A copy of the suite's short digits run as runs/r: these tests write sheets into it and fill them."""
    shutil.copytree(digits_run, tmp_path / "runs" / "r", ignore=shutil.ignore_patterns("errors-*"))
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def sampled(digits_run, tmp_path_factory):
    """The digits run with a sheet of its dev mistakes (and its errors-dev.json) sampled once for this module."""
    runs = tmp_path_factory.mktemp("sampled")
    shutil.copytree(digits_run, runs / "r", ignore=shutil.ignore_patterns("errors-*"))
    result = invoke("errors", "r", "--runs-dir", runs, "--json")
    assert result.exit_code == 0, result.stderr
    return runs


def mistakes_of(predictions_csv) -> dict[int, dict]:
    return {int(r["index"]): r for r in read(predictions_csv) if r["correct"] == "0"}


# --- sampling: the rows are the mistakes -----------------------------------------------------------------------------

def test_sheet_rows_are_exactly_the_mistakes_that_evaluate_predicts(runs):
    evaluated = invoke("evaluate", "r", "--split", "dev", "--runs-dir", runs, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    wrong = mistakes_of(runs / "r" / "predictions-dev.csv")
    assert wrong, "the tiny run makes no dev mistakes: nothing to check"
    done = invoke("errors", "r", "--runs-dir", runs, "--n", "1000", "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    rows = read(runs / "r" / "errors-dev.csv")
    assert list(rows[0]) == HEADER
    assert [int(r["index"]) for r in rows] == sorted(wrong)  # every mistake, once, in order, and nothing else
    for r in rows:
        expected = wrong[int(r["index"])]
        assert (r["true"], r["predicted"], r["confidence"]) == (expected["true"], expected["predicted"],
                                                                expected["confidence"])
        assert all(r[c] == "" for c in HEADER[4:])  # the tag and note columns are the user's
    metrics = json.loads((runs / "r" / "metrics.json").read_text())["splits"]["dev"]
    assert result["mistakes"] == result["sampled"] == len(wrong) == round(metrics["error"] * metrics["n"])
    assert result["examples"] == metrics["n"] and result["split"] == "dev"
    assert result["sheet"] == str(runs / "r" / "errors-dev.csv") and result["panels"] == len(wrong)
    assert result["next"] == f"dltool errors {runs / 'r'} --tally {runs / 'r' / 'errors-dev.csv'}"
    assert (runs / "r" / "errors-dev.png").read_bytes().startswith(b"\x89PNG")
    record = json.loads((runs / "r" / "errors-dev.json").read_text())
    assert record["indices"] == sorted(wrong) and record["seed"] == 0


def test_printed_summary_says_counts_paths_and_the_next_command(runs):
    done = invoke("errors", "r", "--runs-dir", runs, "--split", "test", "--n", "4")
    assert done.exit_code == 0, done.stderr
    wrong = json.loads((runs / "r" / "errors-test.json").read_text())["mistakes"]
    out = done.stdout
    assert f"run r: {wrong} mistakes in the 270 examples of the test split" in out
    assert "sampled 4 at random (--n 4, --seed 0)" in out
    assert f"wrote {runs / 'r' / 'errors-test.csv'}" in out and f"wrote {runs / 'r' / 'errors-test.png'}" in out
    assert f"dltool errors {runs / 'r'} --tally {runs / 'r' / 'errors-test.csv'}" in out


def test_sampling_is_seeded_and_n_caps_the_rows(runs):
    sheet = runs / "r" / "errors-test.csv"

    def rows(*args):
        done = invoke("errors", "r", "--runs-dir", runs, "--split", "test", *args, "--json")
        assert done.exit_code == 0, done.stderr  # an untouched sheet is overwritten without --force
        return sheet.read_bytes(), [int(r["index"]) for r in read(sheet)]

    _, every = rows("--n", "1000")
    assert len(every) > 5, "too few test mistakes to sample from"
    first, five = rows("--n", "5")
    again, same = rows("--n", "5", "--seed", "0")
    _, other = rows("--n", "5", "--seed", "1")
    assert len(five) == 5 and set(five) <= set(every) and set(other) <= set(every)
    assert again == first and same == five  # same seed: the same sheet, byte for byte
    assert other != five  # another seed: other mistakes
    assert len(set(rows("--n", "3", "--seed", "7")[1])) == 3


def test_sample_draws_without_replacement_and_takes_all_when_there_are_few():
    import numpy as np

    wrong = np.zeros(50, bool)
    wrong[[3, 9, 20, 31, 44]] = True
    assert sample(wrong, 100, 0).tolist() == [3, 9, 20, 31, 44]
    picked = sample(wrong, 3, 5)
    assert len(set(picked.tolist())) == 3 and set(picked.tolist()) <= {3, 9, 20, 31, 44}
    assert picked.tolist() == sorted(picked.tolist()) and sample(wrong, 3, 5).tolist() == picked.tolist()


def test_a_filled_sheet_is_kept_unless_forced(runs):
    assert invoke("errors", "r", "--runs-dir", runs).exit_code == 0
    sheet = runs / "r" / "errors-dev.csv"
    rows = read(sheet)
    rows[0]["blurry"] = "x"
    write(sheet, HEADER, [list(r.values()) for r in rows])
    before = snapshot(runs)
    one_line(invoke("errors", "r", "--runs-dir", runs, "--seed", "3"),
             f"{sheet} already has 1 filled tag cell and 0 notes")
    assert snapshot(runs) == before
    rows[0]["blurry"], rows[1]["note"] = "", "a note is work too"
    write(sheet, HEADER, [list(r.values()) for r in rows])
    one_line(invoke("errors", "r", "--runs-dir", runs), "0 filled tag cells and 1 note")
    assert invoke("errors", "r", "--runs-dir", runs, "--force").exit_code == 0
    assert all(r["note"] == "" and r["blurry"] == "" for r in read(sheet))


# --- tally: the course's arithmetic -----------------------------------------------------------------------------------

def hand_made(tmp_path) -> tuple[Path, Path]:
    """A run whose dev error is 0.10 (1,000 examples) and a sheet of 100 of its mistakes: 5 dogs, 43 great cats,
    23 blurry (overlapping both), 6 mislabeled, a column added by hand after note."""
    run = tmp_path / "runs" / "h"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("task:\n  name: classify\n")
    (run / "metrics.json").write_text(json.dumps({"status": "completed", "task": "classify",
                                                  "splits": {"dev": {"error": 0.10, "n": 1000}}}))
    rows = []
    for i in range(100):
        rows.append([i * 7, "cat", "dog", "0.9", "1" if i < 5 else "", "x" if 10 <= i < 53 else "",
                     "yes" if i < 2 or 40 <= i < 61 else "", "1" if 90 <= i < 96 else "", "", ""])
    sheet = run / "errors-dev.csv"
    write(sheet, ["index", "true", "predicted", "confidence", "dog", "great_cat", "blurry", "mislabeled", "note",
                  "filter"], rows)
    return run, sheet


def test_tally_of_the_courses_example(tmp_path):
    run, sheet = hand_made(tmp_path)
    done = invoke("errors", run, "--tally", sheet, "--json")
    assert done.exit_code == 0, done.stderr
    t = json.loads(done.stdout)
    assert (t["split"], t["error"], t["sampled"], t["mistakes"]) == ("dev", 0.10, 100, None)
    assert list(t["tags"]) == ["great_cat", "blurry", "mislabeled", "dog", "filter"]  # largest share first
    expected = {"great_cat": (43, 0.43, 0.043), "blurry": (23, 0.23, 0.023), "mislabeled": (6, 0.06, 0.006),
                "dog": (5, 0.05, 0.005), "filter": (0, 0.0, 0.0)}
    for tag, (count, share, ceiling) in expected.items():
        got = t["tags"][tag]
        assert got["count"] == count and got["share"] == pytest.approx(share)
        assert got["ceiling"] == pytest.approx(ceiling) and got["error_after"] == pytest.approx(0.10 - ceiling)
    assert t["tags"]["dog"]["error_after"] == pytest.approx(0.095)  # fixing dogs: 10 % -> 9.5 % at best
    # tagged: dog 0-4, great_cat 10-52, blurry's 53-60 (its 0, 1 and 40-52 overlap those), mislabeled 90-95: 62 rows
    assert t["untagged"] == 38
    assert f"mislabeled: {MISLABEL_ADVICE}" in t["notes"]

    printed = invoke("errors", run, "--tally", sheet)
    assert printed.exit_code == 0, printed.stderr
    out = printed.stdout
    assert out.index("great_cat") < out.index("blurry") < out.index("mislabeled") < out.index("│ dog")
    assert "43.0%" in out and "0.0430" in out and "0.0950" in out and "0.0050" in out
    assert "tags overlap" in out and "need not sum to 100%" in out and MISLABEL_ADVICE in out


def test_tally_counts_any_filled_cell():
    rows = [{"a": "1", "mislabelled": "x"}, {"a": "", "mislabelled": "?"}, {"a": "yes", "mislabelled": ""},
            {"a": "", "mislabelled": ""}]
    counts = tally_counts(rows, ["mislabelled", "a"], 0.2)
    assert counts == {"mislabelled": {"count": 2, "share": 0.5, "ceiling": 0.1, "error_after": pytest.approx(0.1)},
                      "a": {"count": 2, "share": 0.5, "ceiling": 0.1, "error_after": pytest.approx(0.1)}}


def test_tally_of_a_real_sheet_uses_the_runs_dev_error(sampled, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(sampled, runs)
    sheet = runs / "r" / "errors-dev.csv"
    rows = read(sheet)
    for i, r in enumerate(rows):
        r["blurry"] = "x" if i % 2 == 0 else ""
        r["mislabeled"] = "1" if i == 0 else ""
    write(sheet, HEADER, [list(r.values()) for r in rows])
    done = invoke("errors", "r", "--runs-dir", runs, "--tally", sheet, "--json")
    assert done.exit_code == 0, done.stderr
    t = json.loads(done.stdout)
    error = json.loads((runs / "r" / "metrics.json").read_text())["splits"]["dev"]["error"]
    blurry = (len(rows) + 1) // 2
    assert t["error"] == error and t["sampled"] == len(rows) == t["mistakes"]  # the sheet holds every dev mistake
    assert t["tags"]["blurry"] == {"count": blurry, "share": blurry / len(rows), "ceiling": error * blurry / len(rows),
                                   "error_after": error - error * blurry / len(rows)}
    assert list(t["tags"])[:2] == ["blurry", "mislabeled"] and not any("errors-dev.json" in n for n in t["notes"])
    assert t["notes"] == [f"mislabeled: {MISLABEL_ADVICE}"]  # a tag named mislabel*, with a mistake in it
    rows[0]["mislabeled"] = ""
    write(sheet, HEADER, [list(r.values()) for r in rows])
    assert json.loads(invoke("errors", "r", "--runs-dir", runs, "--tally", sheet, "--json").stdout)["notes"] == []


def test_each_task_says_which_examples_are_mistakes():
    import torch

    from dltool.tasks.classify import Classify
    from dltool.tasks.multilabel import Multilabel
    from dltool.tasks.segment import Segment

    assert Classify.mistakes({"predicted": torch.tensor([0, 2, 1])}, torch.tensor([0, 1, 1])).tolist() == [
        False, True, False]
    y = torch.tensor([[1, 0, -1], [1, -1, 0], [-1, -1, -1], [0, 0, 1], [0, 1, 0]])
    said = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1], [1, 1, 0]])
    # an unknown label (-1) is never wrong: rows 0 and 2 say yes only where the label is unknown; row 1 misses its
    # first label, row 4 says yes to a no
    assert Multilabel.mistakes({"predicted": said}, y).tolist() == [False, True, False, False, True]
    assert Segment.mistakes is None  # right or wrong per pixel, not per image


# --- other tasks ----------------------------------------------------------------------------------------------------

def test_a_multilabel_run_samples_examples_with_any_known_label_wrong(tmp_path):
    args = ["task=multilabel", "model=cnn", "data=canvas", "data.target=labels", "data.hidden=0.3", "data.n=200",
            "trainer.max_epochs=1"]
    assert invoke("train", *args, "--runs-dir", tmp_path, "--name", "m", "--json").exit_code == 0
    assert invoke("evaluate", "m", "--split", "dev", "--runs-dir", tmp_path, "--json").exit_code == 0
    predictions = read(tmp_path / "m" / "predictions-dev.csv")
    labels = [c[:-len("_true")] for c in predictions[0] if c.endswith("_true")]
    wrong = {int(r["index"]): r for r in predictions if r["correct"] == "0"}
    assert wrong, "the tiny run makes no dev mistakes: nothing to check"
    done = invoke("errors", "m", "--runs-dir", tmp_path, "--n", "1000", "--tags", "overlap,small", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["mistakes"] == len(wrong)
    rows = read(tmp_path / "m" / "errors-dev.csv")
    assert list(rows[0]) == ["index", "true", "predicted", "confidence", "overlap", "small", "note"]
    assert [int(r["index"]) for r in rows] == sorted(wrong)
    for r in rows:
        expected = wrong[int(r["index"])]
        assert r["true"] == ";".join(name for name in labels if expected[f"{name}_true"] == "1")
        said = [name for name in labels if float(expected[f"{name}_p"]) >= 0.5]
        assert r["predicted"] == ";".join(said)
        p = [float(expected[f"{name}_p"]) for name in labels]
        assert float(r["confidence"]) == pytest.approx(math.prod(max(q, 1 - q) for q in p), abs=1e-5)


def test_a_segmentation_run_is_refused_naming_the_tasks_that_work(runs):
    config = runs / "r" / "config.yaml"
    config.write_text(config.read_text().replace("name: classify", "name: segment", 1))
    before = snapshot(runs)
    one_line(invoke("errors", "r", "--runs-dir", runs),
             "run r learned task=segment, which has no per-example right or wrong to sample; dltool errors works for "
             "task classify, multilabel, seq2seq, ctc, tag")
    assert snapshot(runs) == before


# --- mistakes: one line, exit 2, nothing written ---------------------------------------------------------------------

SHEETS = {
    "no-tags": "index,true,predicted,confidence,note\n1,3,5,0.9,\n",
    "not-a-sheet": "a,b,label\n1,2,x\n",
    "no-note": "index,true,predicted,confidence,dog\n1,3,5,0.9,x\n",
    "far-index": "index,true,predicted,confidence,dog,note\n99999,3,5,0.9,x,\n",
    "unsampled-index": "index,true,predicted,confidence,dog,note\n{unsampled},3,5,0.9,x,\n",
    "twice": "index,true,predicted,confidence,dog,note\n{sampled},3,5,0.9,x,\n{sampled},3,5,0.9,,\n",
    "bad-index": "index,true,predicted,confidence,dog,note\nabc,3,5,0.9,x,\n",
    "no-rows": "index,true,predicted,confidence,dog,note\n",
    "tag-twice": "index,true,predicted,confidence,dog,dog,note\n1,3,5,0.9,x,,\n",
    "empty-tag": "index,true,predicted,confidence,,note\n1,3,5,0.9,x,\n",
}


@pytest.mark.parametrize("args, sheet, message", [
    (["nope"], None, "run 'nope' not found in {runs}; runs: r"),
    (["r", "--n", "0"], None, "--n must be an integer in [1, inf), got 0"),
    (["r", "--split", "val"], None, "unknown --split 'val'; choose from: train, train_dev, dev, test"),
    (["r", "--tags", "dog,blurry,dog"], None, "tag 'dog' is given twice"),
    (["r", "--tags", "dog,,blurry"], None, "has an empty tag name"),
    (["r", "--tags", " "], None, "has an empty tag name"),
    (["r", "--tags", "dog,confidence"], None, ("tag 'confidence' is a column every sheet has; tags may not be "
                                              "index, input, true, predicted, confidence, note")),
    (["r", "--tags", "Note"], None, "tag 'Note' is a column every sheet has"),
    (["r", "seed=1"], None, "override 'seed=1' would change what run is scored"),
    (["r", "--tally", "{runs}/missing.csv"], None, "no sheet at {runs}/missing.csv"),
    (["r", "--tally", "{sheet}"], "no-tags", "has no tag columns"),
    (["r", "--tally", "{sheet}"], "not-a-sheet", ("is not an errors sheet: its columns must be index, true, "
                                                 "predicted, confidence (with input after index for text), then the "
                                                 "tags and note; it has a, b, label")),
    (["r", "--tally", "{sheet}"], "no-note", "is not an errors sheet"),
    (["r", "--tally", "{sheet}"], "far-index", "index 99999 is past the 270 examples of the dev split of run r"),
    (["r", "--tally", "{sheet}"], "unsampled-index", "is not one of the mistakes sampled from the dev split of run r"),
    (["r", "--tally", "{sheet}"], "twice", "appears twice"),
    (["r", "--tally", "{sheet}"], "bad-index", "index 'abc' is not a row number"),
    (["r", "--tally", "{sheet}"], "no-rows", "has no rows"),
    (["r", "--tally", "{sheet}"], "tag-twice", "tag 'dog' is given twice"),
    (["r", "--tally", "{sheet}"], "empty-tag", "has an empty tag name"),
    (["r", "--tally", "{runs}/r/errors-dev.csv", "--split", "test"], None,
     "is a sheet of the dev split, not of --split test"),
    (["r", "--tally", "{runs}/r/errors-dev.csv", "--n", "5", "--seed", "2"], None,
     "--tally reads a filled sheet: --n and --seed apply to sampling a new one"),
])
def test_a_mistake_is_one_line_exit_2_and_writes_nothing(sampled, tmp_path, args, sheet, message):
    runs = tmp_path / "runs"
    shutil.copytree(sampled, runs)
    indices = json.loads((runs / "r" / "errors-dev.json").read_text())["indices"]
    path = tmp_path / "sheet.csv"
    if sheet is not None:
        path.write_text(SHEETS[sheet].format(sampled=indices[0], unsampled=next(i for i in range(270)
                                                                                if i not in indices)))
    fill = {"runs": str(runs), "sheet": str(path)}
    before = snapshot(tmp_path)
    one_line(invoke("errors", *(a.format(**fill) for a in args), "--runs-dir", runs), message.format(**fill))
    assert snapshot(tmp_path) == before
