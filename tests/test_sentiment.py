"""Sentence classification (course 5's Emojify): data=polarity (gensim's 200 Pang & Lee sentences, or a CSV of text
and label), model=word_average and model=word_lstm, the bag-of-words baseline, and one tiny run started from an embed
run's vectors, evaluated and written into an error sheet from the command line."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from dltool.baseline import bag_of_words
from dltool.config import compose
from dltool.data import load_data
from dltool.data.polarity import PAD, UNK, read_polarity
from dltool.data.wiki import gensim_file
from dltool.errors import UserError
from dltool.models import create_model
from tests.conftest import invoke, tiny_embed_run


def polarity(*overrides):
    return load_data(compose(["data=polarity", *overrides]).data, 0)


def test_the_built_in_sentences_are_pang_and_lees_two_hundred_encoded_word_by_word():
    pairs = read_polarity(gensim_file("pang_lee_polarity.cor"))
    assert len(pairs) == 200 and sum(label == "positive" for _, label in pairs) == 100
    assert pairs[0] == ("simplistic , silly and tedious . ", "negative")
    data = polarity()
    assert data.classes == ["negative", "positive"] and data.info["cut"] == 0
    vocabulary = data.info["vocabulary"]
    assert vocabulary[:2] == ["<pad>", "<unk>"] and len(vocabulary) == len(set(vocabulary))
    assert {k: len(s["y"]) for k, s in data.splits.items()} == {"train": 100, "train_dev": 20, "dev": 40, "test": 40}
    decoded = {" ".join(vocabulary[i] for i in row if i != PAD) for s in data.splits.values() for row in s["x"]}
    assert "simplistic silly and tedious" in decoded  # gensim's tokenizer: no signs, no one-letter words
    assert not any(UNK in s["x"] for s in data.splits.values())  # min_count 1: every word has its row


def test_a_csv_of_text_and_label_with_rare_words_unknown_and_mistakes_in_one_line(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [("Loved it, loved it", "good"), ("Boring and long", "bad"), ("Loved the cast", "good"),
            ("Long and boring", "bad")] * 3
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("review", "stars"), *rows])
    data = polarity(f"data.path={path}", "data.text=review", "data.target=stars", "data.min_count=4",
                    "data.max_length=3")
    # counts over the 12 rows: loved 9, and / boring / long 6 each, it 6, the / cast 3 (below 4: unknown)
    assert data.info["vocabulary"] == ["<pad>", "<unk>", "loved", "and", "boring", "it", "long"]
    assert data.classes == ["bad", "good"] and data.info["cut"] == 3  # "loved it loved it" has 4 words
    everything = np.concatenate([s["x"] for s in data.splits.values()])
    assert {tuple(r) for r in everything.tolist()} == {(2, 5, 2), (4, 3, 6), (2, 1, 1), (6, 3, 4)}
    assert "sha256" in data.sources["path"]
    for overrides, message in (
            (["data.text=body"], "has no column 'body' (data.text); its columns: review, stars"),
            (["data.text=review", "data.target=label"], "has no column 'label' (data.target)")):
        with pytest.raises(UserError, match=re.escape(message)):
            polarity(f"data.path={path}", *overrides)
    path.write_text("text,label\nfine,good\n,bad\n", encoding="utf-8")
    with pytest.raises(UserError, match="sentence 2 of the data has no words"):
        polarity(f"data.path={path}")


def test_the_average_is_over_real_words_and_the_lstm_reads_them_only():
    torch.manual_seed(0)
    average = create_model("word_average", (6,), 2, words=10, embedding=3)
    x = torch.tensor([[4, 2, 7, 0, 0, 0], [5, 0, 0, 0, 0, 0]])
    e = average.embed.weight.detach()
    torch.testing.assert_close(average.forward_features(x), torch.stack([(e[4] + e[2] + e[7]) / 3, e[5]]))
    lstm = create_model("word_lstm", (6,), 2, words=10, embedding=3, hidden=4, layers=2, keep_prob=1.0).eval()
    padded = lstm(x)
    # the same sentences run one at a time through the LSTM without padding: its last state, then the head
    for row, sentence in zip(padded, ([4, 2, 7], [5])):
        _, (h, _) = lstm.rnn(lstm.embed(torch.tensor([sentence])))
        torch.testing.assert_close(row, lstm.head(h[-1, 0]))
    assert not torch.allclose(padded[0], lstm(torch.tensor([[7, 2, 4, 0, 0, 0]]))[0])  # word order counts
    with pytest.raises(UserError, match=r"model word_average takes sentences of word ids, shape \(T,\)"):
        create_model("word_average", (1, 8, 8), 2)


@pytest.mark.parametrize("model", ["word_average", "word_lstm"])
def test_both_models_learn_their_training_sentences(model, tmp_path):
    """100 sentences and 1,600 words: both fit the training split (the loss falls from about ln 2 toward 0), whatever
    dev says of it (the checkpoint kept is dev's best, so it is the last epoch's training loss that shows it)."""
    from dltool.train import train

    metrics = train(compose(["data=polarity", f"model={model}", "trainer.max_epochs=15", "model.keep_prob=1.0"]),
                    runs_dir=tmp_path, name="fit", progress=False)
    assert metrics["status"] == "completed"
    losses = [float(row["train_loss"]) for row in csv.DictReader((tmp_path / "fit" / "history.csv").open())]
    assert len(losses) == 15 and losses[0] > 0.6 and losses[-1] < 0.1


def test_the_baselines_word_counts_agree_with_scikit_learns_count_vectorizer():
    from sklearn.feature_extraction.text import CountVectorizer

    data = polarity()
    vocabulary = data.info["vocabulary"]
    x = data.splits["train"]["x"]
    counts = bag_of_words(x, len(vocabulary))
    texts = [" ".join(vocabulary[i] for i in row if i != PAD) for row in x]
    reference = CountVectorizer(vocabulary=vocabulary[1:], token_pattern=r"\S+", lowercase=False).transform(texts)
    np.testing.assert_array_equal(counts, reference.toarray())


def test_an_embed_run_starts_a_sentence_classifier_which_evaluates_and_names_its_mistakes(tmp_path):
    """The embed run's vectors fill the rows of the words it knows, frozen they stay so; the predictions CSV and the
    error sheet show the sentences as text."""
    from dltool.checkpoints import load

    data = polarity()
    words = data.info["vocabulary"][2:42]  # the 40 commonest words of the sentences
    runs = tmp_path / "runs"
    tiny_embed_run(words, tmp_path, runs)
    common = ["train", "data=polarity", "trainer.max_epochs=3", f"model.init_from={runs / 'vec'}", "--runs-dir", runs]
    small = invoke(*common, "model=word_average", "model.embedding=8", "model.words=100", "--name", "small")
    assert small.exit_code == 2 and small.stderr.strip().endswith(
        f"the vocabulary has {len(data.info['vocabulary'])} words (with <pad> and <unk>); model.words=100 embeds "
        "fewer: raise model.words or data.min_count")
    trained = invoke(*common, "model=word_lstm", "model.embedding=8", "model.hidden=8", "model.freeze=embedding",
                     "--name", "lstm")
    assert trained.exit_code == 0, trained.stderr
    source = load(runs / "vec" / "checkpoints" / "best.ckpt")
    vectors, known = source["state_dict"]["net.target.weight"], [str(w) for w in source["info"]["classes"]]
    rows = load(runs / "lstm" / "checkpoints" / "best.ckpt")["state_dict"]["net.embed.weight"]
    assert sorted(known) == sorted(words)
    for word in words:
        torch.testing.assert_close(rows[data.info["vocabulary"].index(word)], vectors[known.index(word)], rtol=0,
                                   atol=0)
    metrics = json.loads((runs / "lstm" / "metrics.json").read_text())
    assert metrics["baseline"]["splits"]["dev"]["n"] == 40  # the bag-of-words yardstick beside it
    sheet = invoke("errors", str(runs / "lstm"), "--split", "dev", "--n", "5")
    assert sheet.exit_code == 0, sheet.stderr
    table = list(csv.DictReader((runs / "lstm" / "errors-dev.csv").open(encoding="utf-8")))
    decoded = {" ".join(data.info["vocabulary"][i] for i in row if i != PAD) for row in data.splits["dev"]["x"]}
    assert table and all(row["input"] in decoded and row["true"] != row["predicted"] for row in table)


def test_variance_on_a_net_that_embeds_words_suggests_vectors_from_a_larger_corpus():
    from dltool.remedies import recommendations

    config = {"model": {"name": "word_lstm", "words": 4000, "embedding": 50, "init_from": None},
              "data": {"name": "polarity"}, "optimizer": {"name": "adam", "lr": 0.01}, "trainer": {}}
    recs = recommendations("variance", config, "runs/sent")
    line = next(r for r in recs if r.startswith("Word vectors learned on a larger corpus"))
    assert "`dltool train task=embed model=skipgram data=wiki model.dim=50 --name vectors`" in line
    assert line.endswith("`dltool train --config runs/sent/config.yaml model.init_from=runs/vectors "
                         "model.freeze=embedding`")
    started = {**config, "model": {**config["model"], "init_from": "runs/vectors"}}
    assert not any(r.startswith("Word vectors") for r in recommendations("variance", started, "runs/sent"))
    assert not any(r.startswith("Word vectors") for r in recommendations("variance", {**config, "model": {
        "name": "mlp", "hidden": [100]}}, "runs/sent"))
