"""task=seq2seq, data=dates, model=attention_rnn, dltool.decode, dltool translate and the beam's error analysis:
course 5's date translation with attention."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math

import numpy as np
import pytest
import torch

from dltool.config import compose
from dltool.decode import beam_search, greedy, log_prob
from dltool.errors import UserError
from tests.conftest import invoke

START, END, A, B = 1, 2, 3, 4
V = 5


def toy(*tables):
    """A step function over V tokens whose next-token probabilities are hand-set, by example and by prefix (tokens
    after <s>); an unlisted token has probability 0. The state is (example index, prefix so far)."""
    def step(tokens, state):
        example, prefix = state
        prefix = torch.cat([prefix, tokens[:, None]], dim=1)
        out = torch.full((len(tokens), V), -math.inf, dtype=torch.float64)
        for i, (e, row) in enumerate(zip(example.tolist(), prefix.tolist())):
            for token, p in tables[e].get(tuple(row[1:]), {}).items():
                out[i, token] = math.log(p)
        return out, (example, prefix)

    def state(examples):
        return torch.tensor(examples), torch.zeros((len(examples), 0), dtype=torch.long)

    return step, state


# greedy takes a (0.6), then a (0.55): P(a a) = 0.33; but P(b b) = 0.4 * 0.9 = 0.36 is the most likely translation
GREEDY_WRONG = {(): {A: 0.6, B: 0.4}, (A,): {A: 0.55, B: 0.45}, (B,): {A: 0.1, B: 0.9},
                (A, A): {END: 1.0}, (A, B): {END: 1.0}, (B, A): {END: 1.0}, (B, B): {END: 1.0}}
# "a </s>" has P 0.55 (log -0.598), "a b b </s>" 0.45 * 0.99 * 0.99 = 0.441 (log -0.819): the short one wins on log P,
# the long one on log P / T^0.7: -0.598 / 2^0.7 = -0.368 against -0.819 / 4^0.7 = -0.310
LENGTH = {(): {A: 1.0}, (A,): {END: 0.55, B: 0.45}, (A, B): {B: 0.99, END: 0.01}, (A, B, B): {END: 0.99, B: 0.01},
          (A, B, B, B): {END: 1.0}}


def test_beam_search_finds_what_greedy_search_misses():
    step, state = toy(GREEDY_WRONG)
    found, log_p = greedy(step, state([0]), 1, START, END, max_len=5)
    assert found == [[A, A, END]] and log_p[0] == pytest.approx(math.log(0.6 * 0.55))
    found, log_p, score = beam_search(step, state([0]), 1, START, END, width=2, alpha=0.0, max_len=5)
    assert found == [[B, B, END]] and log_p[0] == pytest.approx(math.log(0.36)) and score == log_p
    one = beam_search(step, state([0]), 1, START, END, width=1, alpha=0.0, max_len=5)
    assert one[0] == [[A, A, END]]  # width 1 is greedy search


def test_length_normalization_changes_the_winner():
    step, state = toy(LENGTH)
    short, _, score = beam_search(step, state([0]), 1, START, END, width=2, alpha=0.0, max_len=5)
    assert short == [[A, END]] and score[0] == pytest.approx(math.log(0.55))
    long, log_p, score = beam_search(step, state([0]), 1, START, END, width=2, alpha=0.7, max_len=5)
    assert long == [[A, B, B, END]] and log_p[0] == pytest.approx(math.log(0.45 * 0.99 * 0.99))
    assert score[0] == pytest.approx(math.log(0.45 * 0.99 * 0.99) / 4 ** 0.7)
    assert math.log(0.55) / 2 ** 0.7 < score[0]  # the short one's normalized score, beaten
    assert greedy(step, state([0]), 1, START, END, max_len=5)[0] == [[A, END]]


def test_a_batch_of_examples_is_searched_as_each_alone_and_log_prob_scores_by_hand():
    step, state = toy(GREEDY_WRONG, LENGTH)
    found, log_p, _ = beam_search(step, state([0, 1, 0]), 3, START, END, width=2, alpha=0.7, max_len=5)
    assert found == [[B, B, END], [A, B, B, END], [B, B, END]]
    assert log_p == pytest.approx([math.log(0.36), math.log(0.45 * 0.99 * 0.99), math.log(0.36)])
    scored = log_prob(step, state([0, 1]), 2, START, [[A, B, END], [A, END]])
    assert scored == pytest.approx([math.log(0.6 * 0.45), math.log(0.55)])
    cut, _, _ = beam_search(step, state([1]), 1, START, END, width=2, alpha=0.7, max_len=2)
    assert cut == [[A, END]]  # at max_len the search stops with what it has


def test_corpus_bleu_agrees_with_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    from dltool.tasks.seq2seq import bleu_counts, corpus_bleu

    rng = np.random.default_rng(0)
    refs = [dt.date(1950, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 36500, 40)]
    refs = [d.isoformat() for d in refs]
    hyps = [r if i % 3 else r[:5] + r[8:] + r[5:8] for i, r in enumerate(refs)]  # some right, some scrambled
    hyps[1] = hyps[1][:6]  # a short one: the brevity penalty
    totals: dict = {}
    for h, r in zip(hyps, refs):
        for k, v in bleu_counts(list(h), list(r)).items():
            totals[k] = totals.get(k, 0) + v
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="char", smooth_method="none").score
    assert corpus_bleu(totals) == pytest.approx(expected, abs=1e-9) and 0 < expected < 100
    assert corpus_bleu(bleu_counts(list("2018"), list("2019"))) == 0.0  # no 4-gram in common, no smoothing


def test_dates_are_seeded_iso_targets_that_parse_and_each_source_names_one_date():
    from dltool.data.dates import generate

    start, end = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
    locales = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"]
    pairs = generate(3000, locales, 0, start, end)
    assert pairs == generate(3000, locales, 0, start, end) and pairs != generate(3000, locales, 1, start, end)
    dates: dict[str, set] = {}
    for human, iso in pairs:
        assert start <= dt.date.fromisoformat(iso) <= end and human == human.lower()
        dates.setdefault(human, set()).add(iso)
    assert all(len(isos) == 1 for isos in dates.values())  # no source is two dates (es_ES's d/M/yy left out)
    humans = {h for h, _ in pairs}
    assert {"1/23/18", "23.01.18"} & humans or any("/" in h for h in humans)
    assert any(" of " in h and h.split()[0][-2:] in ("st", "nd", "rd", "th") for h in humans)  # "3rd of march 2002"


def test_no_written_form_of_a_day_and_month_below_13_names_two_dates():
    """Where day and month could swap ("1/2/18"), every format of every default locale still names one date."""
    from dltool.data.dates import formats, write

    dates: dict[str, set] = {}
    for month in range(1, 13):
        for day in range(1, 13):
            date = dt.date(2018, month, day)
            for locale in ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"]:
                for pattern in set(formats(locale)):
                    dates.setdefault(write(date, pattern, locale).lower(), set()).add(date)
    assert all(len(d) == 1 for d in dates.values()) and "1/2/18" in dates
    assert "short" in formats("en_US") and "short" not in formats("es_ES")


def test_the_dates_data_set_is_token_ids_with_both_vocabularies_in_info():
    from dltool.data import load_data
    from dltool.data.dates import encode_source

    cfg = compose(["data=dates", "data.n=200"]).data
    data = load_data(cfg, 0)
    x, y = data.splits["train"]["x"], data.splits["train"]["y"]
    assert x.dtype == np.int64 and x.shape[1] == 40 and y.shape[1] == 11 and (y[:, 10] == END).all()
    assert sum(len(s["x"]) for s in data.splits.values()) == 200 and len(data.splits["dev"]["x"]) == 20
    info = data.info
    assert data.classes[:4] == ["<pad>", "<s>", "</s>", "<unk>"] and info["target_length"] == 11
    assert info["target_vocabulary"] == list("-0123456789")
    iso = "".join(data.classes[i] for i in y[0, :10])
    assert dt.date.fromisoformat(iso)
    assert encode_source(["1☃"], data.classes, info["source_vocabulary"], 4).tolist() == \
        [[data.classes.index("1"), 3, 0, 0]]  # an unknown character is <unk>, then pads
    with pytest.raises(UserError, match="data.start must be a date as YYYY-MM-DD, got 'soon'"):
        load_data(compose(["data=dates", "data.start=soon"]).data, 0)
    with pytest.raises(UserError, match="unknown data.locales xx_YY"):
        load_data(compose(["data=dates", "data.locales=[xx_YY]"]).data, 0)


NETS = {"lstm": ("attention_rnn", {"encoder": 6, "decoder": 8, "attention": 5}),
        "gru": ("attention_rnn", {"encoder": 6, "decoder": 8, "attention": 5, "cell": "gru"}),
        "transformer": ("transformer_seq2seq", {"d_model": 8, "heads": 2, "ff_dim": 16})}


@pytest.mark.parametrize("kind", list(NETS))
def test_the_net_step_by_step_is_the_teacher_forced_net_and_ignores_padding(kind):
    from dltool.models import create_model

    torch.manual_seed(0)
    name, kwargs = NETS[kind]
    net = create_model(name, (7,), 9, **kwargs).eval()
    x = torch.tensor([[5, 6, 7, 0, 0, 0, 0], [4, 8, 4, 6, 5, 7, 8]])
    y_in = torch.tensor([[1, 4, 5], [1, 6, 6]])
    logits = net(x, y_in)
    torch.testing.assert_close(net.head(net.forward_features(x, y_in)), logits, rtol=0, atol=0)
    state, steps = net.encode(x), []
    for t in range(3):
        out, state, weights = net.step(y_in[:, t], state)
        steps.append(out)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
        assert (weights[0, 3:] == 0).all()  # no attention on padding
    torch.testing.assert_close(torch.stack(steps, dim=1), logits, rtol=1e-5, atol=1e-6)
    longer = torch.cat([x, torch.zeros((2, 3), dtype=torch.long)], dim=1)  # more padding: the same outputs
    torch.testing.assert_close(net(longer, y_in), logits, rtol=1e-5, atol=1e-6)


def test_the_loss_is_masked_token_cross_entropy_over_the_target_vocabulary():
    from dltool.tasks.seq2seq import Seq2Seq

    class Fixed(torch.nn.Module):  # the same scores for every example and step
        def forward(self, x, y_in):
            return torch.tensor([0.0, 5.0, math.log(2), 9.0, 0.0, math.log(3)]).expand(len(x), y_in.shape[1], 6)

    info = {"classes": ["<pad>", "<s>", "</s>", "<unk>", "a", "b"], "tokens": {"pad": 0, "start": 1, "end": 2, "unk": 3},
            "target_vocabulary": ["a", "b"], "target_length": 2}
    task = Seq2Seq(Fixed(), info, torch.zeros(1), torch.ones(1), {"name": "sgd", "lr": 0.1, "weight_decay": 0.0},
                   {"name": "none"}, 1)
    # only </s>, a, b are scored: p = 2/6, 1/6, 3/6; targets b, </s> and a pad that never counts
    y = torch.tensor([[5, 2], [5, 0]])
    expected = (2 * math.log(6 / 3) + math.log(6 / 2)) / 3
    assert task.loss(None, {"x": torch.zeros((2, 3), dtype=torch.long), "y": y}).item() == pytest.approx(expected)
    with pytest.raises(UserError, match=r"task.beam must be an integer in \[1, inf\), got 0"):
        Seq2Seq(Fixed(), info, torch.zeros(1), torch.ones(1), {}, {}, 1, beam=0)


def test_error_analysis_blames_the_beam_where_the_reference_scores_higher():
    from dltool.beam_analysis import analyse

    wrong = np.array([True, True, True, False])
    tally = analyse(np.array([-1.0, -3.0, -2.0, -0.1]), np.array([-2.0, -1.0, -2.0, -0.1]), wrong)
    assert (tally["mistakes"], tally["beam"], tally["model"]) == (3, 1, 2)  # a tie is the model's
    assert tally["beam_share"] == pytest.approx(1 / 3) and "work on the model" in tally["advice"]
    assert "wider beam" in analyse(np.array([0.0, 0.0]), np.array([-1.0, 0.0]), np.array([True, False]))["advice"]


TINY = ["task=seq2seq", "data=dates", "model=attention_rnn", "data.n=200", "model.encoder=8", "model.decoder=16",
        "model.attention=4", "model.embedding=8", "trainer.max_epochs=2", "trainer.batch_size=50", "task.beam=2",
        "trainer.threads=1"]


@pytest.fixture(scope="module")
def s2s_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", *TINY, "--runs-dir", runs, "--name", "t", "--json")
    assert result.exit_code == 0, result.stderr
    return runs / "t"


def test_a_real_run_trains_evaluates_and_analyses_its_beam(s2s_run):
    metrics = json.loads((s2s_run / "metrics.json").read_text())
    assert metrics["task"] == "seq2seq" and metrics["status"] == "completed"
    for m in metrics["splits"].values():
        assert m["error"] == pytest.approx(1 - m["exact_match"]) and 0 <= m["bleu"] <= 100
    result = invoke("evaluate", "t", "--runs-dir", s2s_run.parent, "--split", "dev", "--json")
    assert result.exit_code == 0, result.stderr
    scored, dev = json.loads(result.stdout), metrics["splits"]["dev"]
    assert scored["value"] == pytest.approx(dev["error"]) and scored["bleu"] == pytest.approx(dev["bleu"])
    assert scored["token_accuracy"] == pytest.approx(dev["token_accuracy"])
    tally = scored["beam_analysis"]
    rows = list(csv.DictReader((s2s_run / "predictions-dev.csv").open()))
    wrong = [r for r in rows if r["correct"] == "0"]
    assert tally["mistakes"] == len(wrong) == round(dev["error"] * dev["n"]) and tally["beam"] + tally["model"] == len(wrong)
    for r in wrong:  # T_y is 11 for both: the normalized comparison is the raw one
        assert r["fault"] == ("beam" if float(r["log_p_reference"]) > float(r["log_p_translation"]) else "model")
    greedy_run = invoke("evaluate", "t", "--runs-dir", s2s_run.parent, "--split", "dev", "task.beam=1")
    assert greedy_run.exit_code == 0 and "error analysis of beam search (beam 1, alpha 0.7)" in greedy_run.stdout


def test_errors_samples_the_wrong_translations_as_text_and_tallies_them(s2s_run):
    runs = s2s_run.parent
    assert invoke("evaluate", "t", "--runs-dir", runs, "--split", "dev").exit_code == 0
    wrong = {int(r["index"]): r for r in csv.DictReader((s2s_run / "predictions-dev.csv").open()) if r["correct"] == "0"}
    assert wrong, "the tiny run translates every dev date right: nothing to check"
    done = invoke("errors", "t", "--runs-dir", runs, "--n", "1000", "--tags", "day,month,year", "--force", "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mistakes"] == len(wrong) and result["picture"] is None  # text: the sheet shows the examples
    assert not (s2s_run / "errors-dev.png").exists()
    sheet = list(csv.DictReader((s2s_run / "errors-dev.csv").open()))
    assert list(sheet[0]) == ["index", "input", "true", "predicted", "confidence", "day", "month", "year", "note"]
    assert [int(r["index"]) for r in sheet] == sorted(wrong)
    for r in sheet:  # the sheet and evaluate's predictions, written by two routes, agree
        expected = wrong[int(r["index"])]
        assert (r["input"], r["true"], r["predicted"]) == (expected["source"], expected["reference"],
                                                            expected["translation"])
        assert float(r["confidence"]) == pytest.approx(math.exp(float(expected["log_p_translation"])), rel=1e-3,
                                                     abs=1e-6)  # the sheet writes 6 decimals
    lines = (s2s_run / "errors-dev.csv").read_text().splitlines()
    lines[1] = lines[1].replace(",,,,", ",x,,,", 1)  # tag the first mistake "day"
    (s2s_run / "errors-dev.csv").write_text("\n".join(lines) + "\n")
    tally = json.loads(invoke("errors", "t", "--runs-dir", runs, "--tally", s2s_run / "errors-dev.csv", "--json").stdout)
    assert tally["tags"]["day"]["count"] == 1 and tally["notes"] == []  # 1 - exact match: a share of examples


def test_the_same_seed_gives_the_same_numbers(s2s_run, tmp_path):
    from dltool.train import train

    again = train(compose(TINY), runs_dir=tmp_path, name="again", progress=False)
    assert again["splits"] == json.loads((s2s_run / "metrics.json").read_text())["splits"]


def test_translate_prints_the_translation_and_draws_the_attention(s2s_run, tmp_path):
    result = invoke("translate", "t", "3rd of March 2002", "--runs-dir", s2s_run.parent, "--json", "--beam", "3")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source"] == "3rd of march 2002" and out["beam"] == 3 and out["unknown"] == []
    assert len(out["weights"]) in (len(out["translation"]), len(out["translation"]) + 1)  # with </s>, if it came
    assert len(out["weights"][0]) == len(out["source"])
    assert all(sum(row) == pytest.approx(1, abs=1e-4) for row in out["weights"])
    assert (s2s_run / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = invoke("translate", "t", "23.01.18 ☃", "--runs-dir", s2s_run.parent, "-o", tmp_path / "a.png")
    assert text.exit_code == 0 and "read as <unk>: '☃'" in text.stderr and (tmp_path / "a.png").is_file()
    for command in (["runs"], ["diagnose", "t"], ["export", "t"]):
        assert invoke(*command, "--runs-dir", s2s_run.parent).exit_code == 0, command
    too_long = invoke("translate", "t", "x" * 41, "--runs-dir", s2s_run.parent)
    assert too_long.exit_code == 2 and "translates at most 40 (data.max_length)" in too_long.stderr


def test_backprop_through_attention_passes_the_gradient_check():
    from dltool.gradcheck import check
    from dltool.train import build, keep_threads

    with keep_threads():  # the run's trainer.threads=1 stays with it
        setup = build(compose([*TINY, "model.encoder=4", "model.decoder=6", "model.attention=3", "model.embedding=4",
                               "data.n=60"]))
        result = check(setup, batch_size=4, sample=5)
    assert result["band"] == "fine" and result["overall"] < 1e-6  # float64 kept: no float32 cast in the loss
