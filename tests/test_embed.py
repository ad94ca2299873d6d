"""Word embeddings (task=embed, data=wiki, model=skipgram and model=glove): window pairs, subsampling, the negative
sampling distribution, GloVe's weighting and the skip-gram loss against hand-worked values, the corpus and its
mistakes, and one tiny real run of each model from the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dltool.data.wiki import PAD, encode, keep_probability, vocabulary
from dltool.tasks.embed import (
    cooccurrence,
    draw,
    glove_weight,
    lookup,
    noise_distribution,
    skipgram_losses,
    subsample,
    window_pairs,
)
from tests.conftest import invoke

# Words WordSim-353 and the analogy questions hold, so that a tiny run's figures are numbers (coverage > 0)
WORDS = ("king queen man woman boy girl father mother son daughter brother sister city country france paris "
         "germany berlin money bank cash computer keyboard car automobile food fruit tiger cat dog").split()


def test_pairs_of_a_window_on_a_hand_written_sentence():
    words = ["the", "cat", "sat", "on", "mat"]
    x = torch.tensor([[0, 1, 2, 3, 4, PAD, PAD]])
    t, c = window_pairs(x, 2)
    got = sorted((words[a], words[b]) for a, b in zip(t.tolist(), c.tolist()))
    want = sorted([("the", "cat"), ("cat", "sat"), ("sat", "on"), ("on", "mat"),  # 1 apart, both ways
                   ("cat", "the"), ("sat", "cat"), ("on", "sat"), ("mat", "on"),
                   ("the", "sat"), ("cat", "on"), ("sat", "mat"),  # 2 apart
                   ("sat", "the"), ("on", "cat"), ("mat", "sat")])
    assert got == want  # 2 x (4 + 3): padding gives none
    assert len(window_pairs(x, 10)[0]) == 2 * 10  # every two of the 5 words, both ways


def test_vocabulary_is_most_frequent_first_and_rare_words_leave_the_text():
    docs = [["b", "a", "a", "c"], ["a", "b", "d"]]
    words, counts = vocabulary(docs, min_count=2)
    assert words == ["a", "b"] and counts == [3, 2]
    assert vocabulary(docs, 1, max_vocab=3)[0] == ["a", "b", "c"]  # ties alphabetically
    rows = encode(docs, words, chunk=2)
    assert rows.tolist() == [[1, 0], [0, PAD], [0, 1]]  # c and d removed, documents cut into rows of 2


def test_subsampling_keeps_a_word_with_mikolovs_probability():
    counts = np.array([900, 90, 9, 1, 0])  # frequencies 0.9, 0.09, 0.009, 0.001
    keep = keep_probability(counts, 1e-3)
    assert keep == pytest.approx([math.sqrt(1e-3 / 0.9), math.sqrt(1e-3 / 0.09), math.sqrt(1e-3 / 0.009), 1.0, 1.0])
    assert (keep_probability(counts, 0) == 1).all()
    x = torch.tensor([[0, 1, 2, 3, PAD]] * 20000)
    kept = subsample(x, torch.as_tensor(keep), torch.Generator().manual_seed(0))
    for word in range(4):
        share = (kept == word).sum().item() / 20000
        assert abs(share - keep[word]) < 4 * math.sqrt(keep[word] * (1 - keep[word]) / 20000) + 1e-9
    first = kept[(kept >= 0).sum(1) == 4][0].tolist()
    assert first[:4] == [0, 1, 2, 3]  # kept words close up, in their order, pads after


def test_negatives_follow_the_three_quarter_power_of_the_counts():
    counts = torch.tensor([100.0, 40.0, 10.0, 0.0, 1.0])
    p = noise_distribution(counts)
    assert p.tolist() == pytest.approx((counts ** 0.75 / (counts ** 0.75).sum()).tolist())
    n = 200_000
    drawn = draw(torch.cumsum(p, 0), (n,), torch.Generator().manual_seed(1))
    freq = torch.bincount(drawn, minlength=5).double() / n
    tolerance = 4 * torch.sqrt(p * (1 - p) / n)  # four standard errors of a binomial share
    assert ((freq - p).abs() <= tolerance + 1e-12).all(), (freq, p)
    assert freq[3] == 0  # a word of count 0 is never a negative
    again = draw(torch.cumsum(p, 0), (n,), torch.Generator().manual_seed(1))
    assert torch.equal(drawn, again)  # seeded


def test_glove_weighting_on_hand_worked_values():
    x = torch.tensor([0.0, 1.0, 10.0, 50.0, 100.0, 1000.0])
    assert glove_weight(x).tolist() == pytest.approx([0.0, 0.01 ** 0.75, 0.1 ** 0.75, 0.5 ** 0.75, 1.0, 1.0])
    assert glove_weight(torch.tensor([5.0]), x_max=10, alpha=1.0).item() == pytest.approx(0.5)


def test_cooccurrence_counts_and_their_lookup():
    x = torch.tensor([[0, 1, 0, PAD], [1, 0, 2, 2]])  # window 1: (0,1) x3 + (1,0) x3, (0,2) (2,0), (2,2) x2
    codes, counts = cooccurrence(x, 1, 3)
    table = {divmod(int(k), 3): float(v) for k, v in zip(codes, counts)}
    assert table == {(0, 1): 3.0, (1, 0): 3.0, (0, 2): 1.0, (2, 0): 1.0, (2, 2): 2.0}
    got = lookup(codes, counts, torch.tensor([0, 2, 1]), torch.tensor([1, 2, 2]), 3)
    assert got.tolist() == [3.0, 2.0, 0.0]  # (1, 2) never occurs


def test_skipgram_loss_on_a_hand_worked_two_word_example():
    from dltool.models.skipgram import SkipGram

    net = SkipGram((4,), 2, dim=2)
    with torch.no_grad():
        net.target.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        net.context.weight.copy_(torch.tensor([[0.5, 0.5], [1.0, -1.0]]))
    # target 0 with context 1 (score 1 . 1 + 0 . -1 = 1) and one negative, word 0 (score 0.5)
    scores = net.score(torch.tensor([0]), torch.tensor([[1, 0]]))
    assert scores.tolist() == [[1.0, 0.5]]
    loss = skipgram_losses(scores[:, 0], scores[:, 1:]).item()
    assert loss == pytest.approx(math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(0.5)))  # -log sigma(z)
    assert net.vectors().tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_glove_vectors_are_the_mean_of_theta_and_e():
    from dltool.models.glove import GloVe

    net = GloVe((4,), 2, dim=2)
    with torch.no_grad():
        net.theta.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        net.e.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 0.0]]))
        net.b.weight.fill_(0.25)
        net.b_context.weight.fill_(-1.0)
    assert net.vectors().tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert net.score(torch.tensor([0]), torch.tensor([0])).tolist() == [3.0 + 0.25 - 1.0]
    assert net.score(torch.tensor([0]), torch.tensor([[0, 1]])).tolist() == [[2.25, -0.75]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(WORDS, size=30)) for _ in range(120)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, corpus):
    """One tiny real run of each model (``<runs>/skipgram``, ``<runs>/glove``) through the CLI."""
    runs = tmp_path_factory.mktemp("runs")
    for model in ("skipgram", "glove"):
        result = invoke("train", "task=embed", f"model={model}", "data=wiki", f"data.path={corpus}",
                        "data.min_count=1", "data.chunk=30", "model.dim=8", "trainer.max_epochs=2",
                        "trainer.batch_size=16", "--runs-dir", runs, "--name", model, "--json")
        assert result.exit_code == 0, result.stderr
    return runs


@pytest.mark.parametrize("model", ["skipgram", "glove"])
def test_a_tiny_real_run_from_the_cli(tiny_runs, model):
    metrics = json.loads((tiny_runs / model / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["task"] == "embed"
    for split in ("train", "train_dev", "dev", "test"):
        assert 0 <= metrics["splits"][split]["error"] <= 1 and metrics["splits"][split]["pairs"] > 0
    sim, analogies = metrics["embedding"]["wordsim353"], metrics["embedding"]["analogies"]
    assert sim["pairs"] > 0 and isinstance(sim["spearman"], float) and -1 <= sim["spearman"] <= 1
    assert analogies["questions"] > 0 and 0 <= analogies["accuracy"] <= 1
    result = invoke("evaluate", model, "--runs-dir", tiny_runs, "--json")  # the same error as training measured
    assert result.exit_code == 0, result.stderr
    scored = json.loads(result.stdout)
    assert scored["error"] == pytest.approx(metrics["splits"]["test"]["error"])
    assert scored["wordsim353"] == pytest.approx(sim["spearman"])


def test_the_embeddings_command(tiny_runs, tmp_path):
    from dltool.word_vectors import read_word2vec

    runs = tiny_runs
    near = invoke("embeddings", "skipgram", "--runs-dir", runs, "--neighbours", "king", "--topn", "3",
                  "--analogy", "man woman king", "--json")
    assert near.exit_code == 0, near.stderr
    out = json.loads(near.stdout)
    assert len(out["neighbours"]["king"]) == 3 and "king" not in [n["word"] for n in out["neighbours"]["king"]]
    assert out["analogies"][0]["question"] == ["man", "woman", "king"] and out["analogies"][0]["answers"]
    figures = invoke("embeddings", "glove", "--runs-dir", runs)
    assert figures.exit_code == 0 and "WordSim-353 Spearman" in figures.stdout
    picture, vectors = tmp_path / "map.png", tmp_path / "vectors.txt"
    drawn = invoke("embeddings", "skipgram", "--runs-dir", runs, "--map", "king,queen,man,woman", "--out", picture,
                   "--export", vectors)
    assert drawn.exit_code == 0, drawn.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    words, table = read_word2vec(vectors)
    assert len(words) == len(WORDS) and table.shape == (len(WORDS), 8)
    for args, message in [(["--neighbours", "xyzzy"], "'xyzzy' is not in the run's vocabulary"),
                          (["--analogy", "man woman"], "bad analogy 'man woman'"),
                          (["--map", "king,queen,man"], "--map WORDS and --out FILE.png go together")]:
        wrong = invoke("embeddings", "skipgram", "--runs-dir", runs, *args)
        assert wrong.exit_code == 2 and message in wrong.stderr, wrong.stderr
        assert len(wrong.stderr.strip().splitlines()) == 1


def test_embeddings_debias_writes_what_the_courses_three_steps_give(tiny_runs, tmp_path):
    from dltool.debias import GENDER_PAIRS, bias_direction, debias
    from dltool.word_vectors import lookup, normalize, read_word2vec

    plain, fair = tmp_path / "plain.txt", tmp_path / "fair.txt"
    assert invoke("embeddings", "skipgram", "--runs-dir", tiny_runs, "--export", plain).exit_code == 0
    done = invoke("embeddings", "skipgram", "--runs-dir", tiny_runs, "--debias", "--export", fair)
    assert done.exit_code == 0, done.stderr
    assert "debiased: gender direction from" in done.stdout
    words, vectors = read_word2vec(plain)
    expected, report = debias(words, vectors, GENDER_PAIRS)  # the same steps, on the exported vectors
    assert read_word2vec(fair)[0] == words
    np.testing.assert_allclose(read_word2vec(fair)[1], expected, rtol=0, atol=1e-6)  # read back as float32
    g = bias_direction(words, normalize(vectors.astype(np.float64)), GENDER_PAIRS)
    index = lookup(words)
    for neutral in ("computer", "city", "food"):  # in no gendered pair: no component along g left
        assert abs(float(expected[index[neutral]] @ g)) < 1e-9
    man, woman = expected[index["man"]] @ g, expected[index["woman"]] @ g
    assert man == pytest.approx(-woman)  # an equalized pair: opposite projections
    told = json.loads(invoke("embeddings", "skipgram", "--runs-dir", tiny_runs, "--debias", "--json").stdout)["debias"]
    assert told["neutralized"] == report["neutralized"] and told["direction_pairs"] == report["direction_pairs"]
    assert [e["pair"] for e in told["equalized"]] == [e["pair"] for e in report["equalized"]]


def test_embeddings_of_a_run_that_is_not_embed_is_one_line(digits_run):
    result = invoke("embeddings", digits_run)
    assert result.exit_code == 2 and "task=classify" in result.stderr and "task=embed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"12 345 !!\n", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"])
def test_an_empty_or_non_text_corpus_is_one_line_and_exit_2(tmp_path, content):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    result = invoke("train", "task=embed", "model=skipgram", "data=wiki", f"data.path={path}",
                    "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_model_that_trains_another_objective_is_one_line(tmp_path, corpus):
    wrong = invoke("train", "task=embed", "model=glove", "task.objective=skipgram", "data=wiki", f"data.path={corpus}",
                   "--runs-dir", tmp_path)
    assert wrong.exit_code == 2 and "task.objective" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    other = invoke("train", "task=embed", "model=mlp", "data=wiki", f"data.path={corpus}", "--runs-dir", tmp_path)
    assert other.exit_code == 2 and "skipgram" in other.stderr and len(other.stderr.strip().splitlines()) == 1


def test_a_run_trained_longer_draws_as_one_trained_at_once(tmp_path, corpus):
    """The subsampling and negatives of each training batch come from its own seeded stream (the step count travels
    in the checkpoint): 1 epoch then 1 more gives the 2-epoch run's numbers."""
    common = ["train", "task=embed", "model=skipgram", "data=wiki", f"data.path={corpus}", "data.min_count=1",
              "data.chunk=30", "model.dim=8", "trainer.batch_size=16", "trainer.checkpoint_interval=0",
              "--runs-dir", tmp_path, "--json"]
    once = invoke(*common, "trainer.max_epochs=2", "--name", "once")
    first = invoke(*common, "trainer.max_epochs=1", "--name", "first")
    assert once.exit_code == 0 and first.exit_code == 0, once.stderr + first.stderr
    longer = invoke("train", "--resume", tmp_path / "first", "trainer.max_epochs=2", "--name", "longer",
                    "--runs-dir", tmp_path, "--json")
    assert longer.exit_code == 0, longer.stderr
    a, b = json.loads(once.stdout), json.loads(longer.stdout)
    assert a["splits"]["dev"] == b["splits"]["dev"] and a["embedding"] == b["embedding"]


@pytest.mark.slow
def test_skipgram_learns_the_lee_corpus(tmp_path):
    """3 epochs on the Lee corpus (58,152 tokens): the held-out error falls well below chance (0.5)."""
    from dltool.config import compose
    from dltool.train import train

    result = train(compose(["task=embed", "model=skipgram", "data=wiki", "data.corpus=lee", "optimizer.lr=0.03",
                            "trainer.max_epochs=3"]), runs_dir=tmp_path, progress=False)
    assert result["splits"]["dev"]["error"] < 0.45
    assert result["embedding"]["wordsim353"]["pairs"] > 50
