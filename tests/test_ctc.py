"""task=ctc, data=digit_strings, model=ctc_rnn: the pure pieces on hand-worked cases, the loss against torch's own
CTCLoss, the generator's labels against the digits it laid out, and one tiny run through the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from dltool.ctc_scores import alignment, ctc_scores
from dltool.data.digit_strings import FRAMES, PAD, lay_out
from dltool.errors import UserError
from dltool.tasks.ctc import (
    CTC,
    collapse,
    edit_distance,
    greedy_decode,
    prefix_beam_search,
)

OPT = {"name": "adam", "lr": 0.01}
INFO = {"classes": [str(d) for d in range(10)], "blank": 0, "pad": -1, "max_digits": 3}


def task(**kwargs) -> CTC:
    return CTC(nn.Identity(), INFO, torch.zeros(1), torch.ones(1), OPT, {"name": "none"}, 1, **kwargs)


def test_collapse_merges_repeats_then_drops_blanks():
    a, b, blank = 1, 2, 0
    assert collapse([a, a, blank, b, blank, b, b], blank) == [a, b, b]  # "aa-b-bb" -> "abb"
    assert collapse([a, a, b, b], blank) == [a, b]  # "aabb" -> "ab": a repeat needs a blank between
    assert collapse([blank, blank], blank) == [] and collapse([], blank) == []
    assert collapse([3, 0, 3, 3, 0, 0, 4], blank=0) == [3, 3, 4]
    assert collapse([5, 5, 1], blank=5) == [1]  # the blank is whichever id is named


def test_greedy_decode_takes_each_frames_best_then_collapses():
    # frames' argmax: 1 1 0 2 2 0 2 -> "1 2 2"; one string of only blanks -> empty
    best = [[1, 1, 0, 2, 2, 0, 2], [0, 0, 0, 0, 0, 0, 0]]
    scores = torch.nn.functional.one_hot(torch.tensor(best), 3).float() * 5
    assert greedy_decode(scores, blank=0) == [[1, 2, 2], []]
    # through the task: output c + 1 is digit c
    assert task().decode(scores) == [[0, 1, 1], []]


def test_prefix_beam_search_finds_the_most_probable_labeling_not_the_best_path():
    import itertools
    import math

    # two frames over (blank, a): the best path is "--" (0.6 x 0.6 = 0.36), but "a" has "a-", "-a", "aa": 0.64
    log_p = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert greedy_decode(log_p[None], blank=0) == [[]]
    assert prefix_beam_search(log_p, beam=2, blank=0) == [1]
    # random cases against brute force: every path's probability summed onto what it collapses to
    torch.manual_seed(0)
    for _ in range(10):
        log_p = torch.log_softmax(2 * torch.randn(4, 3, dtype=torch.float64), dim=-1)
        totals: dict[tuple, float] = {}
        for path in itertools.product(range(3), repeat=4):
            p = math.exp(sum(float(log_p[t, k]) for t, k in enumerate(path)))
            totals[tuple(collapse(path, 0))] = totals.get(tuple(collapse(path, 0)), 0.0) + p
        assert tuple(prefix_beam_search(log_p, beam=50, blank=0)) == max(totals, key=totals.get)
    # through the task: task.beam > 1 decodes by prefix search, as class indices (output c + 1 is class c)
    two = torch.tensor([[[0.6, 0.4] + [0.0] * 9] * 2]).clamp(min=1e-9).log()
    assert task().decode(two) == [[]] and task(beam=3).decode(two) == [[0]]


def test_edit_distance_on_hand_worked_cases():
    assert edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3 and edit_distance("", "") == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1  # one deletion
    assert edit_distance("flaw", "lawn") == 2  # -f, +n
    assert edit_distance("ab", "ba") == 2  # no transpositions in Levenshtein's


def test_edit_distance_agrees_with_torchmetrics_cer():
    from torchmetrics.text import CharErrorRate

    rng = np.random.default_rng(0)
    refs = ["".join(rng.choice(list("0123456789"), rng.integers(1, 7))) for _ in range(60)]
    hyps = ["".join(rng.choice(list("0123"), rng.integers(0, 8))) for _ in range(60)]
    ours = sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / sum(map(len, refs))
    assert ours == pytest.approx(float(CharErrorRate()(hyps, refs)), abs=1e-6)


def test_alignment_counts_the_edit_distance_and_names_the_operations():
    ops = alignment([1, 2, 3], [1, 4, 3, 5])
    assert [op for op, _, _ in ops] == ["ok", "sub", "ok", "ins"]
    for ref, hyp in [("kitten", "sitting"), ("", "ab"), ("abc", ""), ("flaw", "lawn")]:
        assert sum(op != "ok" for op, _, _ in alignment(ref, hyp)) == edit_distance(ref, hyp)


def test_the_loss_is_torchs_ctc_loss_over_the_real_lengths():
    torch.manual_seed(0)
    scores = torch.randn(2, 6, 11, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[3, 3, 1], [7, PAD, PAD]])  # digits; output = digit + 1
    ours = task().loss(scores, {"y": y})
    log_p = torch.log_softmax(scores, dim=-1).transpose(0, 1)
    targets = torch.tensor([4, 4, 2, 8])  # concatenated, the other form torch takes
    theirs = nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)(log_p, targets, torch.tensor([6, 6]),
                                                                      torch.tensor([3, 1]))
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, theirs)
    # an impossible string (3 labels with a repeat need 4 frames; 2 given) adds 0, not inf
    short = task().ctc_losses(scores[:, :2], y)
    assert short[0] == 0 and torch.isfinite(short).all()
    assert torch.autograd.gradcheck(lambda s: task().loss(s, {"y": y}), (scores,))


def test_sums_and_summary_give_cer_clipped_and_exact_match():
    t = task()
    best = [[4, 0, 4, 2, 0, 0], [0, 8, 8, 0, 9, 0]]  # decoded "3 3 1" (right) and "7 8" (one insertion)
    scores = torch.nn.functional.one_hot(torch.tensor(best), 11).float() * 10
    y = torch.tensor([[3, 3, 1], [7, PAD, PAD]])
    figures = t.summarize({k: float(v) for k, v in t.sums(scores, {"y": y}).items()}, 2)
    assert figures["cer"] == pytest.approx(1 / 4) and figures["error"] == figures["cer"]
    assert figures["exact_match"] == 0.5
    assert t.summarize({"edits": 9.0, "chars": 4.0, "exact": 0.0, "loss": 1.0}, 2)["error"] == 1.0  # clipped
    predictions = t.predict(scores)
    predicted = predictions["predicted"]
    best_p = torch.softmax(scores, dim=-1).max(dim=-1).values.prod(dim=1)  # the best path's probability
    torch.testing.assert_close(predictions["confidence"], best_p)
    assert predicted[1, :3].tolist() == [7, 8, PAD]
    scored, _ = ctc_scores(y.numpy(), {"predicted": predicted.numpy(), "confidence": np.ones(2)}, INFO, "cer")
    assert scored["cer"] == pytest.approx(1 / 4) and scored["per_class"]["8"]["inserted"] == 1
    assert scored["per_class"]["3"] == {"count": 2, "correct": 2, "substituted": 0, "deleted": 0, "inserted": 0,
                                        "error": 0.0}


def test_digit_strings_are_seeded_and_their_labels_are_the_digits_laid_out():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, FRAMES)).astype(np.float32) + 5  # far from the zero gaps: each digit findable
    y = np.arange(30) % 10
    signals, labels, starts = lay_out(x, y, 8, (1, 3), (2, 6), 0.0, 3 * FRAMES + 4 * 6, seed=3)
    again = lay_out(x, y, 8, (1, 3), (2, 6), 0.0, 3 * FRAMES + 4 * 6, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((signals, labels, starts), again))
    assert not np.array_equal(lay_out(x, y, 8, (1, 3), (2, 6), 0.0, 144, seed=4)[1], labels)
    used = 0
    for i in range(8):
        k = int((labels[i] != PAD).sum())
        assert 1 <= k <= 3 and (labels[i, k:] == PAD).all()
        previous_end = 0
        for j in range(k):
            at = starts[i, j]
            assert 2 <= at - previous_end <= 6 and (signals[i, previous_end:at] == 0).all()  # the gap before it
            np.testing.assert_array_equal(signals[i, at:at + FRAMES], x[used])  # the digit example, in order
            assert labels[i, j] == y[used]
            used, previous_end = used + 1, at + FRAMES
        assert (signals[i, previous_end:] == 0).all()


def test_the_loader_generates_what_its_config_says():
    from dltool.config import compose
    from dltool.data import load_data

    cfg = compose(["data=digit_strings", "data.n=40", "data.digits=[2,3]", "data.gap=[0,4]"]).data
    data = load_data(cfg, seed=0)
    assert data.info["blank"] == 0 and data.info["pad"] == PAD and data.classes == [str(d) for d in range(10)]
    assert data.input_shape == (3 * FRAMES + 4 * 4,) and data.splits["train"]["y"].shape[1] == 3
    lengths = np.concatenate([(s["y"] != PAD).sum(axis=1) for s in data.splits.values()])
    assert set(lengths) <= {2, 3} and len(lengths) == 40
    np.testing.assert_array_equal(load_data(cfg, seed=0).splits["dev"]["x"], data.splits["dev"]["x"])


def test_ctc_rnn_puts_out_a_score_a_class_a_shortened_frame():
    from dltool.models import create_model

    net = create_model("ctc_rnn", (100,), 11, channels=[4, 4], strides=[2, 2], hidden=8)
    assert net.frames == 25 and net(torch.randn(3, 100)).shape == (3, 25, 11)
    assert create_model("ctc_rnn", (100,), 11, channels=[4, 4], strides=3).frames == 12  # one stride for all: 34, 12
    with pytest.raises(UserError, match="model.strides gives 2 strides for 1 conv layers"):
        create_model("ctc_rnn", (100,), 11, channels=[4], strides=[2, 2])
    assert create_model("ctc_rnn", (2, 100), 11, channels=[], strides=[], hidden=8)(torch.randn(1, 2, 100)).shape == (1, 100, 11)


def test_a_tiny_recognizer_trains_evaluates_and_exports(tmp_path):
    from tests.conftest import invoke

    args = ["task=ctc", "model=ctc_rnn", "data=digit_strings", "data.n=60", "data.digits=[1,2]", "data.gap=[0,2]",
            "model.channels=[8]", "model.strides=4", "model.hidden=8", "trainer.max_epochs=2", "trainer.batch_size=16"]
    result = invoke("train", *args, "--runs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    dev = run["splits"]["dev"]
    assert {"cer", "exact_match"} <= set(dev) and dev["error"] == pytest.approx(min(dev["cer"], 1))
    run_dir = tmp_path / run["run"]
    evaluated = invoke("evaluate", str(run_dir), "--split", "dev", "--metric", "cer", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout)
    assert figures["cer"] == pytest.approx(dev["cer"]) and figures["exact_match"] == pytest.approx(dev["exact_match"])
    header = (run_dir / "predictions-dev.csv").read_text().splitlines()[0]
    assert header == "index,correct,reference,decoded,edits,confidence"
    assert OmegaConf.load(run_dir / "config.yaml").task.name == "ctc"
    assert invoke("runs", "--runs-dir", tmp_path).exit_code == 0
    assert invoke("diagnose", str(run_dir)).exit_code == 0
    assert invoke("export", str(run_dir)).exit_code == 0 and (run_dir / "export" / "model.safetensors").is_file()
    wrong = {int(r["index"]): r for r in csv.DictReader((run_dir / "predictions-dev.csv").open()) if r["correct"] == "0"}
    done = invoke("errors", str(run_dir), "--n", "1000", "--tags", "merged,missed", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["mistakes"] == len(wrong) > 0
    sheet = list(csv.DictReader((run_dir / "errors-dev.csv").open()))
    assert list(sheet[0]) == ["index", "true", "predicted", "confidence", "merged", "missed", "note"]  # a signal:
    assert (run_dir / "errors-dev.png").is_file()  # drawn, not written out
    assert [(int(r["index"]), r["true"], r["predicted"]) for r in sheet] == [
        (i, r["reference"], r["decoded"]) for i, r in sorted(wrong.items())]
