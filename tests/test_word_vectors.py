from __future__ import annotations

import math

import numpy as np
import pytest

from dltool import word_vectors as wv
from dltool.errors import UserError


def test_the_shipped_test_sets():
    assert (wv.test_data_dir() / "wordsim353.tsv").is_file()
    pairs = wv.wordsim353()
    assert len(pairs) == 353  # its two '#' comment lines skipped
    assert pairs[0] == ("love", "sex", 6.77) and ("tiger", "tiger", 10.0) in pairs
    questions = wv.analogy_questions()
    assert len(questions) == 14 and sum(map(len, questions.values())) == 19544  # 19558 lines, 14 section lines
    assert list(questions)[:2] == ["capital-common-countries", "capital-world"]
    assert questions["capital-common-countries"][0] == ("athens", "greece", "baghdad", "iraq")  # lowercased
    assert sum(name.startswith("gram") for name in questions) == 9


def test_missing_gensim_says_how_to_install(monkeypatch):
    monkeypatch.setattr(wv.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install 'gensim"):
        wv.test_data_dir()


def test_normalize_keeps_zero_rows_and_float32():
    x = wv.normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert x.dtype == np.float32 and x.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]
    assert wv.normalize([[1, 0]]).dtype == np.float64


# 3-D: x says "male" (+) or "female" (-)... here: man and woman on the first two axes, royalty on the third
ROYAL_WORDS = ["man", "woman", "king", "queen", "apple"]
ROYAL = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [0, 0, 1]], dtype=np.float64)


def test_analogy_worked_by_hand():
    # unit vectors: king = (1, 0, 1)/sqrt2, queen = (0, 1, 1)/sqrt2; target = woman - man + king
    # = (1/sqrt2 - 1, 1, 1/sqrt2), ||target||^2 = (1.5 - sqrt2) + 1 + 0.5 = 3 - sqrt2
    # cos(queen, target) = (1/sqrt2 + 1/2) / sqrt(3 - sqrt2) = 0.9586; cos(apple) = (1/sqrt2) / sqrt(3 - sqrt2) = 0.5615
    # woman (cos 1/sqrt(3 - sqrt2) = 0.794) would beat apple but is excluded, as are man and king
    norm = math.sqrt(3 - math.sqrt(2))
    assert wv.analogy(ROYAL_WORDS, ROYAL, "man", "woman", "king") == [("queen", pytest.approx((2**-0.5 + 0.5) / norm))]
    ranked = wv.analogy(ROYAL_WORDS, ROYAL * 7, "MAN", "woman", "king", topn=10)  # lengths and case do not matter
    assert [w for w, _ in ranked] == ["queen", "apple"]
    assert ranked[1][1] == pytest.approx(2**-0.5 / norm)
    with pytest.raises(UserError, match="not in the vocabulary of 5 words: prince"):
        wv.analogy(ROYAL_WORDS, ROYAL, "man", "woman", "prince")


def test_nearest_worked_by_hand():
    words, vectors = ["a", "b", "c", "d"], [[2, 0], [0.8, 0.6], [0, 1], [-1, 0]]
    # cosines with a = (1, 0): b 0.8, c 0, d -1; a itself excluded
    assert wv.nearest(words, vectors, "a") == [("b", pytest.approx(0.8)), ("c", 0.0), ("d", -1.0)]
    assert wv.nearest(words, vectors, "a", topn=1) == [("b", pytest.approx(0.8))]
    with pytest.raises(UserError, match="not in the vocabulary of 4 words: zebra"):
        wv.nearest(words, vectors, "zebra")


def test_similarity_worked_by_hand():
    words = ["w0", "w1", "w2", "w3", "w4"]
    vectors = [[1, 0], [3, 0], [0.6, 0.8], [0, 1], [-1, 0]]
    pairs = [("W0", "w1", 9.0), ("w0", "w2", 5.0), ("w0", "w3", 7.0), ("w0", "w4", 1.0), ("w0", "unseen", 4.0)]
    # cosines 1, 0.6, 0, -1 rank 4, 3, 2, 1; the human scores 9, 5, 7, 1 rank 4, 2, 3, 1: rank differences 0, 1, -1, 0
    # rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / (4 * 15) = 0.8
    # pearson: deviations 3.5, -0.5, 1.5, -4.5 and 0.85, 0.45, -0.15, -1.15: 7.7 / sqrt(35 * 2.27) = 0.86386
    got = wv.similarity(words, vectors, pairs)
    assert got["spearman"] == pytest.approx(0.8) and got["pearson"] == pytest.approx(7.7 / math.sqrt(35 * 2.27))
    assert (got["pairs"], got["pairs_total"], got["coverage"]) == (4, 5, 0.8)
    none = wv.similarity(words, vectors, [("w0", "unseen", 4.0)])
    assert none["pairs"] == 0 and math.isnan(none["spearman"])


def test_empty_vocabulary_is_a_user_error():
    for call in (lambda: wv.similarity([], np.zeros((0, 3)), [("a", "b", 1.0)]),
                 lambda: wv.analogies([], np.zeros((0, 3)), {"s": [("a", "b", "c", "d")]}),
                 lambda: wv.nearest([], np.zeros((0, 3)), "a")):
        with pytest.raises(UserError, match="vocabulary is empty"):
            call()
    with pytest.raises(UserError, match="one row per word"):
        wv.nearest(["a", "b"], np.zeros((3, 2)), "a")


def test_bad_files_are_user_errors(tmp_path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("# a comment\ncat\tdog\t7.5\ncat\tdog\tvery\n")
    with pytest.raises(UserError, match="line 3: expected 'word1<TAB>word2<TAB>score'"):
        wv.wordsim353(bad)
    bad.write_text("# only comments\n")
    with pytest.raises(UserError, match="holds no word pairs"):
        wv.wordsim353(bad)
    questions = tmp_path / "questions.txt"
    questions.write_text("athens greece baghdad iraq\n")
    with pytest.raises(UserError, match="line 1: expected a section line"):
        wv.analogy_questions(questions)
    questions.write_text(": capitals\nathens greece baghdad\n")
    with pytest.raises(UserError, match="line 2: expected four words"):
        wv.analogy_questions(questions)
    with pytest.raises(UserError, match="no such file"):
        wv.wordsim353(tmp_path / "missing.tsv")
    vectors = tmp_path / "v.txt"
    for text, message in [("cat 0.1 0.2\n", "first line must be 'V d'"), ("2 2\ncat 0.1 0.2\n", "says 2 words"),
                          ("1 2\ncat 0.1\n", "of 'cat' must be 2 numbers"), ("1 2\ncat 0.1 x\n", "must be 2 numbers")]:
        vectors.write_text(text)
        with pytest.raises(UserError, match=message):
            wv.read_word2vec(vectors)
    vectors.write_bytes(b"1 2\ncat \xff\xfe\x00\x01\x02\x03\x04\x05")  # gensim's binary format
    with pytest.raises(UserError, match="not UTF-8 text"):
        wv.read_word2vec(vectors)


def test_word2vec_round_trips_with_gensim(tmp_path):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    words, vectors = ["the", "naïve", "café", "x"], rng.standard_normal((4, 5)).astype(np.float32)
    ours = tmp_path / "ours.txt"
    wv.write_word2vec(ours, words, vectors)
    wv.write_word2vec(ours, words, vectors)  # over the old file, through a temporary file that does not stay
    assert [p.name for p in tmp_path.iterdir()] == ["ours.txt"]
    kv = KeyedVectors.load_word2vec_format(ours, binary=False)
    assert kv.index_to_key == words and np.array_equal(kv.vectors, vectors)  # 9 digits: float32 exactly
    assert np.array_equal(wv.read_word2vec(ours)[1], vectors)
    wv.write_word2vec(ours, words, vectors.astype(np.float64) / 3)  # float64: 17 digits, gensim's float32 rounding
    assert KeyedVectors.load_word2vec_format(ours, binary=False).vectors == pytest.approx(vectors / 3, rel=1e-6)
    theirs = tmp_path / "theirs.txt"
    kv.save_word2vec_format(theirs, binary=False)
    read_words, read_vectors = wv.read_word2vec(theirs)
    assert read_words == words and read_vectors.dtype == np.float32 and np.array_equal(read_vectors, vectors)


def test_a_word_with_whitespace_cannot_be_written(tmp_path):
    with pytest.raises(UserError, match="whitespace: 'new york'"):
        wv.write_word2vec(tmp_path / "v.txt", ["paris", "new york"], np.zeros((2, 3)))
    assert not list(tmp_path.iterdir())


def _keyed(words, vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    return kv


def test_similarity_agrees_with_gensim():
    """gensim's evaluate_word_pairs with case_insensitive=True (its default; our lookup is case-insensitive too) and
    restrict_vocab=len(words) (its default 300000 keeps any vocabulary this small whole; both look at every word)."""
    rng = np.random.default_rng(1)
    pairs = wv.wordsim353()
    vocabulary = sorted({w for a, b, _ in pairs for w in (a, b)})
    words = [str(w) for w in rng.permutation(vocabulary)[: int(0.8 * len(vocabulary))]]  # some pairs lose a word
    vectors = rng.standard_normal((len(words), 8)).astype(np.float32)
    vectors[: len(words) // 2] += vectors[len(words) // 2: 2 * (len(words) // 2)]  # correlated rows: cosines vary
    pearson, spearman, oov = _keyed(words, vectors).evaluate_word_pairs(
        wv.test_data_dir() / "wordsim353.tsv", restrict_vocab=len(words), case_insensitive=True)
    ours = wv.similarity(words, vectors, pairs)
    assert ours["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
    assert ours["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert ours["coverage"] == pytest.approx(1 - oov / 100) and 150 < ours["pairs"] < 353


SECTIONS = ("capital-common-countries", "family", "currency", "gram3-comparative", "gram8-plural")


@pytest.fixture(scope="module")
def analogy_table(tmp_path_factory):
    """A table made for analogies: within a section, word b = word a + the section's offset + noise, so that about
    half of the questions come out right; a few capitalized variants of words lie next to them (gensim's
    case_insensitive rules: the first variant stands for all, and a variant of a, b or c is never the answer); 60
    questions a section in a file both read."""
    rng = np.random.default_rng(2)
    questions = {s: q[:60] for s, q in wv.analogy_questions().items() if s in SECTIONS}
    questions["currency"] = questions["currency"][:20]
    table, d = {}, 12
    for items in questions.values():
        offset = rng.standard_normal(d)
        for item in items:
            for x, y in (item[:2], item[2:]):
                table.setdefault(x, rng.standard_normal(d))
                table.setdefault(y, table[x] + offset + 0.9 * rng.standard_normal(d))
    for word in ["usd", "dollar", "euro"]:  # questions with them do not count: coverage below 1
        table.pop(word, None)
    for word in ["greece", "father", "bigger", "Mother"]:
        table[word.capitalize()] = table[word.lower()] + 0.05 * rng.standard_normal(d)
    words = [str(w) for w in rng.permutation(sorted(table))]
    path = tmp_path_factory.mktemp("analogies") / "questions.txt"
    path.write_text("".join(f": {name}\n" + "".join(" ".join(q) + "\n" for q in items)
                            for name, items in questions.items()))
    return words, np.array([table[w] for w in words], dtype=np.float32), path


@pytest.mark.parametrize("share", [None, 0.7])
def test_analogies_agree_with_gensim(analogy_table, share):
    """gensim's evaluate_word_analogies (3CosAdd, case_insensitive=True, dummy4unknown=False) on the same vectors
    with the same restriction to the most frequent words."""
    words, vectors, path = analogy_table
    restrict = None if share is None else int(share * len(words))
    score, sections = _keyed(words, vectors).evaluate_word_analogies(path, restrict_vocab=restrict or len(words))
    ours = wv.analogies(words, vectors, wv.analogy_questions(path), restrict=restrict)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    assert {name: (s["correct"], s["questions"]) for name, s in ours["sections"].items()} == \
        {k: v for k, v in theirs.items() if k != "Total accuracy"}
    assert (ours["correct"], ours["questions"]) == theirs["Total accuracy"]
    assert ours["accuracy"] == pytest.approx(score)
    assert 0.2 < score < 0.9 and ours["questions"] < ours["questions_total"] == 260  # a test of something
    syntactic = [theirs[s] for s in SECTIONS if s.startswith("gram")]
    assert (ours["syntactic"]["correct"], ours["syntactic"]["questions"]) == tuple(map(sum, zip(*syntactic)))
    assert ours["semantic"]["questions"] + ours["syntactic"]["questions"] == ours["questions"]
    assert ours["coverage"] == ours["questions"] / 260


def test_analogies_in_small_batches_give_the_same(analogy_table, monkeypatch):
    words, vectors, path = analogy_table
    whole = wv.analogies(words, vectors, wv.analogy_questions(path))
    monkeypatch.setattr(wv, "BATCH_CELLS", 7 * len(words))  # 7 questions a matrix product
    assert wv.analogies(words, vectors, wv.analogy_questions(path)) == whole


def test_analogies_counts_by_hand():
    # the royal table: man:woman::king:queen is right, woman:man::queen:king too; king:queen::man:? gives woman
    questions = {"royal": [("man", "woman", "king", "queen"), ("woman", "man", "queen", "king"),
                           ("king", "queen", "man", "woman"), ("man", "woman", "prince", "princess")],
                 "gram-fruit": [("apple", "apples", "pear", "pears")]}
    got = wv.analogies(ROYAL_WORDS, ROYAL, questions)
    assert got["sections"]["royal"] == {"accuracy": 1.0, "correct": 3, "questions": 3, "questions_total": 4,
                                        "coverage": 0.75}
    assert math.isnan(got["syntactic"]["accuracy"]) and got["syntactic"]["questions_total"] == 1
    assert (got["accuracy"], got["questions"], got["questions_total"]) == (1.0, 3, 5)
    only_two = wv.analogies(ROYAL_WORDS, ROYAL, questions, restrict=2)  # man and woman: no question has all four
    assert only_two["questions"] == 0 and math.isnan(only_two["accuracy"])
    beyond = wv.analogies(ROYAL_WORDS, ROYAL, questions, restrict=100)  # more than the 5 words: all of them
    assert (beyond["correct"], beyond["questions"], beyond["restrict"]) == (3, 3, 5) and got["restrict"] == 5
    with pytest.raises(UserError, match=r"restrict must be an integer in \[1, inf\), got 0"):
        wv.analogies(ROYAL_WORDS, ROYAL, questions, restrict=0)
