"""Named-entity recognition (task=tag, data=entities, model=brnn_tagger, dltool tag): BIO entities and their F1 on
hand-worked examples (and against seqeval where it is installed), the generated sentences and a CoNLL file, the
net's directions and padding, and one tiny run trained, evaluated and asked to tag a sentence from the CLI."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from dltool.config import compose
from dltool.data import load_data
from dltool.data.entities import (
    SHAPES,
    TEMPLATES,
    UNK,
    generate,
    shape,
    tag_list,
    tokenize,
)
from dltool.errors import UserError
from dltool.models import create_model
from dltool.tasks.tag import Tag, count, entities, prf
from tests.conftest import invoke, tiny_embed_run

TRUE = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "B-DATE", "O"]
# PER right; LOC called ORG (a wrong type); ORG cut short (a partial span); DATE one word too long (a wrong span)
SAID = ["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O", "O", "B-DATE", "I-DATE"]


def test_entities_follow_the_conll_rule():
    assert entities(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 2), ("LOC", 3, 4)}
    assert entities(["O", "I-PER", "I-PER"]) == {("PER", 1, 3)}  # I- after O starts an entity
    assert entities(["B-PER", "I-LOC", "I-LOC"]) == {("PER", 0, 1), ("LOC", 1, 3)}  # a change of type ends one
    assert entities(["B-PER", "B-PER", "I-PER"]) == {("PER", 0, 1), ("PER", 1, 3)}  # B- after B- starts another
    assert entities(["O", "O"]) == set() and entities([]) == set()


def test_a_wrong_type_a_partial_and_a_wrong_span_each_count_as_misses():
    found = count(entities(TRUE), entities(SAID), ["PER", "LOC", "ORG", "DATE"])
    assert found == {"PER": [1, 0, 0], "LOC": [0, 0, 1], "ORG": [0, 2, 1], "DATE": [0, 1, 1]}
    assert prf(1, 3, 3) == {"precision": 0.25, "recall": 0.25, "f1": 0.25}
    assert prf(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_entity_f1_agrees_with_seqeval():
    metrics = pytest.importorskip("seqeval.metrics")
    rng = np.random.default_rng(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    true = [list(rng.choice(tags, size=12)) for _ in range(40)]  # I- after O included: the CoNLL rule decides
    said = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in row] for row in true]
    totals = np.zeros(3)
    for t, s in zip(true, said):
        totals += np.sum(list(count(entities(t), entities(s), ["PER", "LOC"]).values()), axis=0)
    ours = prf(*totals)
    assert ours["f1"] == pytest.approx(metrics.f1_score(true, said))
    assert ours["precision"] == pytest.approx(metrics.precision_score(true, said))
    assert ours["recall"] == pytest.approx(metrics.recall_score(true, said))
    assert prf(*np.sum(list(count(entities(TRUE), entities(SAID), []).values()), axis=0))["f1"] == \
        pytest.approx(metrics.f1_score([TRUE], [SAID]))


def task(classes, words=("<pad>", "<unk>", "a", "b"), vocabulary=("<pad>", "<unk>", "a"), length=10, **kwargs):
    torch.manual_seed(0)
    net = create_model("brnn_tagger", (length, 2), len(classes), hidden=4, embedding=4, words=8, **kwargs)
    info = {"classes": classes, "words": list(words), "vocabulary": list(vocabulary), "shapes": list(SHAPES)}
    return Tag(net, info, torch.zeros(length, 2), torch.ones(length, 2), {"name": "adam", "lr": 0.01}, {}, 1)


def test_a_split_figures_are_one_minus_entity_f1_over_real_words_only():
    classes = tag_list([([], TRUE)])
    module = task(classes, length=12)
    index = {t: i for i, t in enumerate(classes)}
    y = torch.tensor([[index[t] for t in TRUE] + [-1, -1]])
    logits = torch.nn.functional.one_hot(torch.tensor([[index[t] for t in SAID] + [0, 1]]), len(classes)).float()
    figures = module.summarize({k: float(v) for k, v in module.sums(logits * 10, {"y": y}).items()}, 1)
    assert figures["error"] == pytest.approx(0.75) and figures["f1"] == pytest.approx(0.25)
    assert figures["f1_PER"] == 1.0 and figures["f1_LOC"] == 0.0 and figures["tokens"] == 10
    assert figures["token_accuracy"] == pytest.approx(7 / 10)  # words 3, 6, 9 tagged wrong; the padding not counted


def test_words_outside_the_training_vocabulary_reach_the_net_as_unk():
    module = task(["O", "B-PER", "I-PER"])
    assert module.remap.tolist() == [0, UNK, 2, UNK]  # "b" is a word of the data the training split lacks
    seen = []
    module.net.embed.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    module(torch.tensor([[[2, 3], [3, 1], [0, 0]]]))
    assert seen[0].tolist() == [[2, UNK, 0]]


def test_the_brnn_reads_both_ways_packs_away_padding_and_one_way_sees_no_later_word():
    x = torch.tensor([[[2, 1], [3, 3], [2, 4], [3, 1], [0, 0], [0, 0]]])
    changed = x.clone()
    changed[0, 3, 0] = 2  # the last word
    for bidirectional in (True, False):
        torch.manual_seed(0)
        net = create_model("brnn_tagger", (6, 2), 3, hidden=4, embedding=4, bidirectional=bidirectional).eval()
        out, other = net(x), net(changed)
        torch.testing.assert_close(net(x[:, :4]), out[:, :4])  # padding changes nothing
        assert torch.equal(out[0, 4:], net.head(torch.zeros(2, net.head.in_features)))  # padded words: zero states
        assert torch.allclose(out[0, :3], other[0, :3]) != bidirectional  # the earlier words see the last one
    with pytest.raises(UserError, match=r"model brnn_tagger takes sentences of word and shape ids, shape \(T, 2\)"):
        create_model("brnn_tagger", (6,), 3)


def test_word_shapes():
    assert [SHAPES[shape(w)] for w in ["Paris", "IBM", "flew", "2002", ",", "McDonald", "Smith-Jones"]] == \
        ["Xx", "X", "x", "d", "p", "mixed", "mixed"]


def test_generated_sentences_are_seeded_and_tagged_as_their_entities_were_slotted():
    sentences = generate(60, seed=3)
    assert sentences == generate(60, seed=3) and sentences != generate(60, seed=4)
    templates = {" ".join(w for part in re.split(r"(\{[A-Z]+\})", t)
                          for w in ([part] if part.startswith("{") else tokenize(part))) for t in TEMPLATES}
    kinds = set()
    for words, tags in sentences:
        assert all(t == "O" or t.startswith("B-") or prev[2:] == t[2:] for prev, t in zip(["O", *tags], tags))
        spans = sorted(entities(tags), key=lambda e: e[1])
        out, at = [], 0
        for kind, a, b in spans:
            out += words[at:a] + [f"{{{kind}}}"]
            at = b
            kinds.add(kind)
        assert " ".join(out + words[at:]) in templates  # the O words are a template's, the entities its slots
    assert kinds == {"PER", "LOC", "ORG", "DATE"}


def test_the_data_encodes_words_shapes_and_tags_and_the_vocabulary_comes_from_train():
    cfg = compose(["task=tag", "model=brnn_tagger", "data=entities", "data.n=80"])
    data = load_data(cfg.data, seed=0)
    again = load_data(cfg.data, seed=0)
    x, y = data.splits["train"]["x"], data.splits["train"]["y"]
    assert np.array_equal(x, again.splits["train"]["x"]) and x.shape[1:] == (40, 2) and x.dtype == np.int64
    assert data.classes == ["O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert ((y == -1) == (x[..., 0] == 0)).all() and ((x[..., 1] == 0) == (x[..., 0] == 0)).all()
    vocabulary = Tag.learn(data, 0)["vocabulary"]
    counts = np.bincount(x[..., 0].ravel(), minlength=len(data.info["words"]))
    ids = {w: i for i, w in enumerate(data.info["words"])}
    assert vocabulary[:2] == ["<pad>", "<unk>"] and all(counts[ids[w]] >= 2 for w in vocabulary[2:])
    assert len(vocabulary) < len(data.info["words"])  # words only dev or test hold (and rare ones) are unknown


def test_a_conll_file_is_read_word_and_tag_a_line(tmp_path):
    path = tmp_path / "train.conll"
    rows = ["-DOCSTART- -X- O", "", "Teddy NNP B-PER", "Roosevelt NNP I-PER", "flew VBD O", "", "",
            "Paris NNP B-LOC", "is VBZ O", "big JJ O"]
    path.write_text("\n".join(rows * 12) + "\n")
    cfg = compose(["task=tag", "model=brnn_tagger", "data=entities", f"data.path={path}"])
    data = load_data(cfg.data, seed=0)
    assert data.classes == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert set(data.info["words"]) == {"<pad>", "<unk>", "teddy", "roosevelt", "flew", "paris", "is", "big"}
    sentences = [tuple(data.info["words"][i] for i in row[row > 0]) for row in data.splits["train"]["x"][..., 0]]
    assert set(sentences) == {("teddy", "roosevelt", "flew"), ("paris", "is", "big")}
    assert data.sources["path"]["path"] == str(path.resolve())


def test_train_evaluate_and_tag_from_the_command_line(tmp_path):
    runs = tmp_path / "runs"
    trained = invoke("train", "task=tag", "model=brnn_tagger", "data=entities", "data.n=60", "trainer.max_epochs=2",
                     "trainer.threads=1", "model.hidden=8", "model.embedding=8", "--runs-dir", runs, "--name", "ner",
                     "--json")
    assert trained.exit_code == 0, trained.stderr
    dev = json.loads(trained.stdout)["splits"]["dev"]
    assert dev["error"] == pytest.approx(1 - dev["f1"]) and {"f1_PER", "f1_DATE", "token_accuracy"} <= set(dev)
    result = invoke("evaluate", "ner", "--runs-dir", runs, "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert set(scores["per_class"]) == {"DATE", "LOC", "ORG", "PER"} and scores["error"] == pytest.approx(1 - scores["f1"])
    with open(runs / "ner" / "predictions-test.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == scores["n"] and len(rows[0]["tags"].split()) == len(rows[0]["words"].split())
    tagged = invoke("tag", "ner", "Yesterday Teddy Roosevelt flew to Paris", "--runs-dir", runs)
    assert tagged.exit_code == 0, tagged.stderr
    lines = tagged.stdout.splitlines()
    assert [line.split()[0] for line in lines[:6]] == ["Yesterday", "Teddy", "Roosevelt", "flew", "to", "Paris"]
    assert lines[-1].startswith("entities: ") and "read as <unk>: " in tagged.stderr
    assert tagged.stderr.endswith("Teddy Roosevelt Paris\n")  # words the training split lacks
    out = json.loads(invoke("tag", "ner", "Mr Smith flew to Paris", "--runs-dir", runs, "--json").stdout)
    assert [w["word"] for w in out["words"]] == ["Mr", "Smith", "flew", "to", "Paris"] and "entities" in out
    wrong = {int(r["index"]): r for r in rows if r["correct"] == "0"}
    done = invoke("errors", "ner", "--runs-dir", runs, "--split", "test", "--n", "1000", "--tags", "span,type",
                  "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["mistakes"] == len(wrong) > 0
    sheet = list(csv.DictReader((runs / "ner" / "errors-test.csv").open()))
    assert list(sheet[0]) == ["index", "input", "true", "predicted", "confidence", "span", "type", "note"]
    assert [(int(r["index"]), r["input"], r["true"], r["predicted"]) for r in sheet] == [
        (i, r["words"], r["entities"], r["found"]) for i, r in sorted(wrong.items())]
    printed = invoke("errors", "ner", "--runs-dir", runs, "--split", "test", "--force")
    assert printed.exit_code == 0 and "no picture: the sheet's input column holds each example's text" in printed.stdout


def test_word_vectors_of_an_embed_run_start_the_taggers_embedding(tmp_path):
    """Course 5's transfer: an embedding learned on a corpus gives the tagger's words their first vectors; frozen,
    they stay those vectors through training (the embed run's own table, read from its checkpoint)."""
    import torch

    from dltool.checkpoints import load
    from dltool.data import load_data

    data = load_data(compose(["task=tag", "data=entities", "data.n=60"]).data, 0)
    from collections import Counter

    seen = Counter(data.info["words"][int(i)] for i in data.splits["train"]["x"][..., 0].ravel())
    words = [w for w, _ in seen.most_common(42) if w not in ("<pad>", "<unk>")][:40]  # in the tagger's vocabulary
    runs = tmp_path / "runs"
    tiny_embed_run(words, tmp_path, runs)
    tag = ["train", "task=tag", "model=brnn_tagger", "data=entities", "data.n=60", "trainer.max_epochs=2",
           "model.hidden=8", f"model.init_from={runs / 'vec'}", "--runs-dir", runs]
    wrong = invoke(*tag, "model.embedding=16", "--name", "bad")
    assert wrong.exit_code == 2 and wrong.stderr.strip().endswith(
        "its word vectors have 8 dimensions and this net's embedding 16: set model.embedding=8")
    trained = invoke(*tag, "model.embedding=8", "model.freeze=embedding", "--name", "ner")
    assert trained.exit_code == 0, trained.stderr
    source = load(runs / "vec" / "checkpoints" / "best.ckpt")
    vectors, vocabulary = source["state_dict"]["net.target.weight"], [str(w) for w in source["info"]["classes"]]
    tagger = load(runs / "ner" / "checkpoints" / "best.ckpt")
    rows = tagger["state_dict"]["net.embed.weight"]
    shared = [(i, vocabulary.index(w)) for i, w in enumerate(tagger["info"]["vocabulary"]) if w in vocabulary]
    missing = set(words) - set(vocabulary)
    assert len(shared) == 40 - len(missing) and all(len(w) < 2 for w in missing)  # the corpus's words; its
    # tokenizer (gensim's) keeps words of 2 characters or more: ",", "." and "i" are none
    for row, j in shared:
        torch.testing.assert_close(rows[row], vectors[j], rtol=0, atol=0)
