from __future__ import annotations

import math

import numpy as np
import pytest

from dltool.debias import (
    EQUALIZE_PAIRS,
    GENDER_PAIRS,
    OCCUPATIONS,
    bias_direction,
    debias,
    equalize,
    neutralize,
)
from dltool.errors import UserError


def test_neutralize_worked_by_hand():
    # e = (0.6, 0.8), g = (2, 0): e.g / ||g||^2 = 1.2 / 4 = 0.3, so e - 0.3 g = (0, 0.8); g need not be unit
    assert neutralize([0.6, 0.8], [2.0, 0.0]).tolist() == pytest.approx([0.0, 0.8])
    rows = neutralize([[0.6, 0.8], [-3.0, 1.0], [0.0, 5.0]], [2.0, 0.0])
    assert rows.tolist() == [[0.0, 0.8], [0.0, 1.0], [0.0, 5.0]]


def test_neutralized_vectors_have_no_projection_on_g():
    rng = np.random.default_rng(0)
    e, g = rng.standard_normal((50, 7)), rng.standard_normal(7)
    assert np.abs(neutralize(e, g) @ g).max() < 1e-12
    assert np.allclose(neutralize(e, g) + (e @ g / (g @ g))[:, None] * g, e)  # only the part along g went


def test_equalize_worked_by_hand():
    # e1 = (0.6, 0.8), e2 = (0, 1) (unit), g = (1, 0): mu = (0.3, 0.9), mu_B = (0.3, 0), mu_orth = (0, 0.9);
    # e_1B = (0.6, 0), e_2B = (0, 0); sqrt(|1 - ||mu_orth||^2|) = sqrt(0.19); the course's denominator
    # ||(e1 - mu_orth) - mu_B|| = ||(0.3, -0.1)|| = sqrt(0.1) (= ||e2 - mu|| too), so the corrected e_1B =
    # sqrt(0.19) (0.3, 0) / sqrt(0.1) = (0.3 sqrt(1.9), 0) and e1 = (0.41352, 0.9), e2 = (-0.41352, 0.9).
    # Their norm^2 = 0.81 + 0.09 * 1.9 = 0.981: not 1, the course's formula (Bolukbasi's, dividing by ||e_1B - mu_B||
    # = 0.3, would give (sqrt(0.19), 0.9), of norm 1).
    e1, e2 = equalize([0.6, 0.8], [0.0, 1.0], [1.0, 0.0])
    assert e1.tolist() == pytest.approx([0.3 * math.sqrt(1.9), 0.9]) and e2.tolist() == pytest.approx([-0.3 * math.sqrt(1.9), 0.9])
    assert e1 @ e1 == pytest.approx(0.981)
    same = equalize([3.0, 4.0], [0.0, 2.5], [5.0, 0.0])  # unit-normalized first; g's length does not matter
    assert np.allclose(same[0], e1) and np.allclose(same[1], e2)
    # a pair symmetric about g's orthogonal space stays as it is, of unit norm
    kept = equalize([0.6, 0.8], [-0.6, 0.8], [1.0, 0.0])
    assert kept[0].tolist() == pytest.approx([0.6, 0.8]) and kept[1].tolist() == pytest.approx([-0.6, 0.8])


def test_equalized_pairs_are_symmetric_about_g():
    rng = np.random.default_rng(1)
    g = rng.standard_normal(6)
    a, b = rng.standard_normal((20, 6)), rng.standard_normal((20, 6))
    e1, e2 = equalize(a, b, g)  # 20 pairs at once, row by row
    along = lambda e: e @ g / np.linalg.norm(g)
    orth = lambda e: neutralize(e, g)
    assert np.allclose(orth(e1), orth(e2))  # one orthogonal part: equal norms of it
    assert np.allclose(along(e1), -along(e2)) and np.abs(along(e1)).min() > 1e-3  # opposite projections on g
    assert np.allclose(np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1))  # equal norms
    assert (np.linalg.norm(e1, axis=1) <= 1 + 1e-12).all()  # at most 1 (the course's denominator)
    # norm^2 = ||mu_orth||^2 + (1 - ||mu_orth||^2) ||e_1B - e_2B||^2 / ||e_1 - e_2||^2 on the unit inputs
    u1, u2 = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    mu_orth = orth((u1 + u2) / 2)
    m = (mu_orth**2).sum(axis=1)
    expected = m + (1 - m) * (along(u1) - along(u2)) ** 2 / ((u1 - u2) ** 2).sum(axis=1)
    assert np.allclose((e1**2).sum(axis=1), expected)
    neutral = orth(rng.standard_normal(6))  # a neutralized word is as far from both
    assert np.allclose(np.linalg.norm(e1 - neutral, axis=1), np.linalg.norm(e2 - neutral, axis=1))


# 3-D, unit after normalization: woman - man = (2, 0, 0), she - he = (0, 1, 0)
WORDS = ["woman", "man", "she", "he"]
VECTORS = np.array([[3.0, 0, 0], [-1, 0, 0], [0, 0.5, math.sqrt(0.75)], [0, -0.5, math.sqrt(0.75)]])


def test_bias_direction_worked_by_hand():
    pairs = [("woman", "man"), ("she", "he"), ("queen", "king")]  # king and queen are not in the vocabulary
    # mean of (2, 0, 0) and (0, 1, 0) = (1, 0.5, 0), unit: (2, 1, 0) / sqrt5
    assert bias_direction(WORDS, VECTORS, pairs).tolist() == pytest.approx([2 / math.sqrt(5), 1 / math.sqrt(5), 0])
    # PCA: the differences' D^T D = diag(4, 1, 0), top singular vector (1, 0, 0), pointing along the mean
    assert bias_direction(WORDS, VECTORS, pairs, method="pca").tolist() == pytest.approx([1.0, 0.0, 0.0])
    reversed_pairs = [(b, a) for a, b in pairs]  # man - woman: the other way
    assert bias_direction(WORDS, VECTORS, reversed_pairs, method="pca").tolist() == pytest.approx([-1.0, 0, 0])
    with pytest.raises(UserError, match="none of the 1 gendered pairs .* vocabulary of 4 words"):
        bias_direction(WORDS, VECTORS, [("queen", "king")])
    with pytest.raises(UserError, match="choose mean, pca"):
        bias_direction(WORDS, VECTORS, pairs, method="svd")


def test_defaults_are_pairs_of_words():
    assert ("woman", "man") in GENDER_PAIRS and ("she", "he") in GENDER_PAIRS
    assert all(len(p) == 2 and p[0] != p[1] for p in GENDER_PAIRS + EQUALIZE_PAIRS)
    assert {"receptionist", "nurse", "engineer", "doctor", "programmer", "homemaker"} <= set(OCCUPATIONS)


def _table():
    """Random 8-D vectors with a gender component along the first axis: female words +, male words -, and the
    occupations tilted as in the paper (nurse, receptionist +; engineer, programmer -)."""
    rng = np.random.default_rng(2)
    tilt = {"woman": 2, "girl": 2, "she": 2, "grandmother": 1.5, "man": -2, "boy": -2, "he": -2, "grandfather": -1.5,
            "nurse": 1, "receptionist": 1, "engineer": -1, "programmer": -1, "tree": 0, "table": 0}
    words = list(tilt)
    vectors = 0.5 * rng.standard_normal((len(words), 8))
    vectors[:, 0] += [tilt[w] for w in words]
    return words, vectors


def test_debias_neutralizes_and_equalizes():
    words, vectors = _table()
    pairs = [("woman", "man"), ("she", "he")]
    equal = [("girl", "boy"), ("grandmother", "grandfather"), ("queen", "king")]
    new, report = debias(words, vectors, pairs, equalize_pairs=equal)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    g = bias_direction(words, vectors, pairs)
    row = {w: i for i, w in enumerate(words)}
    neutral = ["nurse", "receptionist", "engineer", "programmer", "tree", "table"]
    assert np.abs(new[[row[w] for w in neutral]] @ g).max() < 1e-12  # neutralized: no projection on g
    for w in ("woman", "man", "she", "he"):  # the pairs defining g are left as they are (unit)
        assert np.allclose(new[row[w]], unit[row[w]])
    for a, b in [("girl", "boy"), ("grandmother", "grandfather")]:
        e1, e2 = new[row[a]], new[row[b]]
        assert e1 @ g == pytest.approx(-(e2 @ g)) and e1 @ g > 0.1  # the female side stays so
        assert np.allclose(neutralize(e1, g), neutralize(e2, g))
        for n in neutral:
            assert np.linalg.norm(e1 - new[row[n]]) == pytest.approx(np.linalg.norm(e2 - new[row[n]]))
    assert report["method"] == "mean" and report["direction_pairs"] == [["woman", "man"], ["she", "he"]]
    assert report["neutralized"] == 6 and report["not_equalized"] == [["queen", "king"]]
    jobs = report["occupations"]
    assert list(jobs) == ["nurse", "receptionist", "engineer", "programmer"]  # OCCUPATIONS' order, those present
    assert jobs["nurse"]["before"] > 0.1 and jobs["engineer"]["before"] < -0.1  # the tilt shows before
    assert jobs["nurse"]["before"] == pytest.approx(unit[row["nurse"]] @ g)
    assert all(abs(j["after"]) < 1e-12 for j in jobs.values())
    girl = report["equalized"][0]
    assert girl["pair"] == ["girl", "boy"] and girl["after"][0] == pytest.approx(-girl["after"][1])
    assert list(girl["distances_after"]) == ["nurse", "receptionist", "engineer"]
    assert all(d[0] == pytest.approx(d[1]) for d in girl["distances_after"].values())
    assert any(abs(d[0] - d[1]) > 0.05 for d in girl["distances_before"].values())  # they were not before


def test_debias_only_the_neutral_words_given():
    words, vectors = _table()
    new, report = debias(words, vectors, [("woman", "man")], neutral=["nurse", "Engineer", "unknown"],
                         equalize_pairs=[], method="pca")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    moved = {w for w, a, b in zip(words, new, unit) if not np.allclose(a, b)}
    assert moved == {"nurse", "engineer"} and report["neutralized"] == 2 and report["equalized"] == []
    assert report["occupations"]["receptionist"]["after"] == report["occupations"]["receptionist"]["before"]
    with pytest.raises(UserError, match="one vector per word"):
        debias([], np.zeros((0, 3)), GENDER_PAIRS)
