"""task=lm, data=names, model=rnn_lm and dltool sample: course 5's character-level language model (Dinosaurus Island)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from dltool.config import compose
from dltool.errors import UserError
from dltool.tasks.lm import LanguageModel
from tests.conftest import invoke

OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}
TOKENS = {"pad": 0, "start": 1, "end": 2, "unk": 3}
SMALL = ["task=lm", "data=names", "model=rnn_lm", "data.n=200", "model.hidden=32", "model.embedding=8"]


def task(v: int = 3) -> LanguageModel:
    info = {"classes": [str(i) for i in range(v)], "tokens": TOKENS}
    return LanguageModel(nn.Identity(), info, torch.zeros(3), torch.ones(3), OPT, {"name": "none"}, 1)


# two sequences, three steps, three tokens; step scores chosen so that the softmax is simple
LOGITS = torch.tensor([[[0.0, math.log(2), 0.0],  # p = 1/4, 2/4, 1/4; target 1: loss log 2, right
                        [0.0, math.log(3), 0.0],  # p = 1/5, 3/5, 1/5; target 2: loss log 5, wrong
                        [100.0, 0.0, 0.0]],  # target pad: never counts (it would be right, at loss ~0)
                       [[0.0, 0.0, math.log(6)],  # p = 1/8, 1/8, 6/8; target 2: loss log(8/6), right
                        [0.0, 50.0, 0.0],  # pad targets
                        [0.0, 0.0, 50.0]]])
Y = torch.tensor([[1, 2, 0], [2, 0, 0]])
BY_HAND = (math.log(2) + math.log(5) + math.log(8 / 6)) / 3


def test_the_loss_is_the_mean_over_the_steps_that_are_not_padding():
    assert task().loss(LOGITS, {"y": Y}).item() == pytest.approx(BY_HAND, rel=1e-6)


def test_error_and_perplexity_by_hand_and_exact_over_chunks():
    t = task()
    whole = {k: v.item() for k, v in t.sums(LOGITS, {"y": Y}).items()}
    assert whole["tokens"] == 3 and whole["wrong"] == 1
    chunks = [t.sums(LOGITS[i:i + 1], {"y": Y[i:i + 1]}) for i in range(2)]
    totals = {k: sum(c[k].item() for c in chunks) for k in whole}
    figures = t.summarize(totals, 2)
    assert figures["error"] == pytest.approx(1 / 3) and figures["loss"] == pytest.approx(BY_HAND, rel=1e-6)
    assert figures["perplexity"] == pytest.approx(math.exp(BY_HAND)) and figures["n"] == 2
    assert t.summarize(whole, 2) == pytest.approx(figures)


def test_what_the_model_says_at_a_padded_step_changes_nothing():
    other = LOGITS.clone()
    other[Y == 0] = torch.randn(int((Y == 0).sum()), 3) * 10
    t = task()
    assert t.loss(other, {"y": Y}).item() == pytest.approx(BY_HAND, rel=1e-6)
    assert {k: v.item() for k, v in t.sums(other, {"y": Y}).items()} == \
        pytest.approx({k: v.item() for k, v in t.sums(LOGITS, {"y": Y}).items()})


def test_generated_names_are_seeded_distinct_lowercase_and_round_trip():
    from dltool.data.names import decode, encode, generate, vocabulary

    names = generate(60, ["en_US", "it_IT"], "first", seed=0, max_length=8)
    assert names == generate(60, ["en_US", "it_IT"], "first", seed=0, max_length=8)
    assert names != generate(60, ["en_US", "it_IT"], "first", seed=1, max_length=8)
    assert len(set(names)) == 60 and all(n == n.lower() and 0 < len(n) <= 8 for n in names)
    tokens = vocabulary(names, 1)
    ids = encode(names, tokens, 8)
    assert ids.shape == (60, 10) and (ids[:, 0] == TOKENS["start"]).all()
    assert [decode(row, tokens) for row in ids] == names
    rare = vocabulary(["aab", "ab"], 2)  # b twice, a three times; c once: unknown
    assert rare == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"]
    assert encode(["cab"], rare, 4).tolist() == [[1, 3, 4, 5, 2, 0]]
    with pytest.raises(UserError, match=r"data.n=5000 distinct first names: locales en_GB gave only \d+"):
        generate(5000, ["en_GB"], "first", seed=0)


def test_the_names_data_set_is_token_ids_with_the_vocabulary_in_info():
    from dltool.data import load_data

    cfg = compose(["data=names", "data.n=100"]).data
    a, b = load_data(cfg, 0), load_data(cfg, 0)
    for split in a.splits:
        assert np.array_equal(a.splits[split]["x"], b.splits[split]["x"])
    x, y = a.splits["train"]["x"], a.splits["train"]["y"]
    assert x.dtype == np.int64 and x.shape[1] == 21 and np.array_equal(x[:, 1:], y[:, :-1])  # y is x one step on
    assert sum(len(s["x"]) for s in a.splits.values()) == 100
    assert a.info["tokens"] == TOKENS and a.classes[:4] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert not np.array_equal(load_data(compose(["data=names", "data.n=100", "data.seed=1"]).data, 0)
                              .splits["train"]["x"][:5], x[:5])


def test_a_users_file_one_item_a_line(tmp_path):
    from dltool.data import load_data
    from dltool.data.names import decode

    path = tmp_path / "dinos.txt"
    others = [f"{a}{b}saurus" for a in "bcdefgh" for b in "aeiou"]
    path.write_text("Aachenosaurus\n\nabelisaurus\naachenosaurus\nzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\nx\n"
                    + "".join(f"{o}\n" for o in others))
    data = load_data(compose(["data=names", f"data.path={path}", "data.min_count=1"]).data, 0)
    names = sorted(decode(row, data.classes) for s in data.splits.values() for row in s["x"])
    assert names == sorted(["aachenosaurus", "abelisaurus", "x", *others])  # lowercased, once each, not the long one
    assert data.sources["path"]["path"] == str(path)
    with pytest.raises(UserError, match="data file not found: nope.txt"):
        load_data(compose(["data=names", "data.path=nope.txt"]).data, 0)


@pytest.mark.parametrize("model", ["rnn_lm", "transformer_lm"])
def test_the_net_is_causal_and_step_by_step_is_the_same_net(model):
    from dltool.models import create_model

    torch.manual_seed(0)
    net = create_model(model, (6,), 9).eval()
    x = torch.randint(0, 9, (4, 6))
    features = net.forward_features(x)
    assert features.shape == (4, 6, net.head.in_features) and net(x).shape == (4, 6, 9)
    torch.testing.assert_close(net.head(features), net(x), rtol=0, atol=0)
    changed = x.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % 9
    torch.testing.assert_close(net(changed)[:, :4], net(x)[:, :4])  # a later token never reaches an earlier score
    assert not torch.allclose(net(changed)[:, 4:], net(x)[:, 4:])  # and the changed ones do reach their own
    state, steps = None, []
    for t in range(6):
        logits, state = net.step(x[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), net(x), rtol=1e-5, atol=1e-5)


def test_the_recurrent_cells_and_the_transformers_checks():
    from dltool.models import create_model
    from dltool.models.transformer_lm import causal_mask

    x = torch.randint(0, 9, (4, 6))
    for cell in ("lstm", "rnn"):
        assert create_model("rnn_lm", (6,), 9, cell=cell)(x).shape == (4, 6, 9)
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    with pytest.raises(UserError, match=r"model.d_model \(30\) must be a multiple of model.heads \(4\)"):
        create_model("transformer_lm", (6,), 9, d_model=30)


def test_sampling_never_draws_pad_start_or_unknown_nor_an_empty_name():
    from dltool.sample import draw

    class Loves(nn.Module):  # a net that puts nearly all its mass on the tokens sampling must refuse
        def step(self, tokens, state=None):
            logits = torch.zeros(len(tokens), 6)
            logits[:, [0, 1, 2, 3]] = torch.tensor([30.0, 30.0, 20.0, 30.0])
            return logits, state

    ids = draw(Loves(), 50, TOKENS, 1.0, 0, 5, "cpu")
    assert not np.isin(ids[:, 0], [0, 1, 2, 3]).any()  # the first is a character: the end is refused there too
    ends = (ids == 2).int().argmax(dim=1)
    assert (ends > 0).all()
    for row, end in zip(ids.tolist(), ends.tolist()):
        assert set(row[:end]) <= {4, 5} and set(row[end + 1:]) <= {0}  # pads only after the end


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", *SMALL, "trainer.max_epochs=2", "--runs-dir", runs, "--name", "lm", "--json")
    assert result.exit_code == 0, result.stderr
    return runs / "lm"


def test_a_real_run_writes_metrics_of_task_lm(lm_run):
    metrics = json.loads((lm_run / "metrics.json").read_text())
    assert metrics["task"] == "lm" and metrics["status"] == "completed" and metrics["human_error"] is None
    for split in ("train", "train_dev", "dev", "test"):
        m = metrics["splits"][split]
        assert 0 <= m["error"] <= 1 and m["perplexity"] == pytest.approx(math.exp(m["loss"]))


def sample(run, *args):
    result = invoke("sample", run.name, "--runs-dir", run.parent, "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_sample_is_seeded_capped_and_says_which_names_are_new(lm_run):
    first = sample(lm_run, "--n", "12", "--seed", "3")
    assert sample(lm_run, "--n", "12", "--seed", "3")["names"] == first["names"]
    assert sample(lm_run, "--n", "12", "--seed", "4")["names"] != first["names"]
    short = sample(lm_run, "--n", "30", "--max-length", "3", "--temperature", "1.5")
    assert all(0 < len(name) <= 3 for name in short["names"])
    assert (lm_run / "samples.txt").read_text() == "".join(f"{n}\n" for n in short["names"])
    for name in first["names"] + short["names"]:
        assert not any(t in name for t in ("<unk>", "<pad>", "<s>", "</s>"))
    from dltool.data import load_data
    from dltool.data.names import decode

    data = load_data(compose(["data=names", "data.n=200"]).data, 0)
    training = {decode(row, data.classes) for row in data.splits["train"]["x"]}
    assert first["new"] == [name not in training for name in first["names"]]
    assert first["new_count"] == sum(first["new"]) and first["training_names"] == len(training)
    text = invoke("sample", "lm", "--runs-dir", lm_run.parent, "--n", "3")
    assert text.exit_code == 0 and f"of 3 new (not among the {len(training)} training names)" in text.stdout


def test_evaluate_scores_an_lm_run_as_training_measured_it(lm_run):
    result = invoke("evaluate", "lm", "--runs-dir", lm_run.parent, "--split", "dev", "--json")
    assert result.exit_code == 0, result.stderr
    scored = json.loads(result.stdout)
    dev = json.loads((lm_run / "metrics.json").read_text())["splits"]["dev"]
    assert scored["task"] == "lm" and scored["value"] == pytest.approx(dev["error"])
    assert scored["perplexity"] == pytest.approx(dev["perplexity"], rel=1e-5)
    assert sum(c["count"] for c in scored["per_class"].values()) == dev["tokens"]
    table = invoke("evaluate", "lm", "--runs-dir", lm_run.parent, "--split", "dev", "--metric", "perplexity")
    assert table.exit_code == 0 and f"perplexity = {dev['perplexity']:.4f}" in table.stdout
    assert (lm_run / "predictions-dev.csv").read_text().startswith("index,correct,sequence,predicted,loss\n")


def test_a_transformer_decoder_learns_the_names_and_samples_them(tmp_path):
    from dltool.data import load_data

    small = ["task=lm", "data=names", "model=transformer_lm", "data.n=200", "model.d_model=16", "model.ff_dim=32",
             "model.layers=1"]
    result = invoke("train", *small, "trainer.max_epochs=20", "optimizer.lr=0.01", "--runs-dir", tmp_path,
                    "--name", "tlm", "--json")
    assert result.exit_code == 0, result.stderr
    train = json.loads((tmp_path / "tlm" / "metrics.json").read_text())["splits"]["train"]
    y = load_data(compose(small).data, 0).splits["train"]["y"]
    p = np.bincount(y[y != TOKENS["pad"]]) / (y != TOKENS["pad"]).sum()
    unigram = math.exp(-sum(q * math.log(q) for q in p if q > 0))  # the best model that ignores the prefix: 17.0
    assert train["perplexity"] < 0.8 * unigram  # 11.3: it reads the characters before (through the causal mask)
    names = sample(tmp_path / "tlm", "--n", "5", "--seed", "1")["names"]
    assert len(names) == 5 and all(names)


def test_token_ids_are_never_standardized():
    from dltool.train import build

    setup = build(compose(SMALL))
    assert not setup.module.mean.any() and (setup.module.std == 1).all()
    with pytest.raises(UserError, match="data=names holds token ids, which are not magnitudes: set data.normalize"):
        build(compose([*SMALL, "data.normalize=true"]))
