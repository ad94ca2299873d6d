"""Debiasing word vectors (course 5, week 2, "Operations on word vectors: debiasing"; Bolukbasi et al. 2016, "Man is
to Computer Programmer as Woman is to Homemaker? Debiasing Word Embeddings").

All on unit vectors (``dltool.word_vectors.normalize``), e_w the embedding of word w.

- The bias direction g (``bias_direction``): the gender of a word lies along the differences of gendered pairs,
  e_woman - e_man, e_she - e_he, ... ``method="mean"``: g is their mean. ``method="pca"``: Bolukbasi's, the top
  principal component of each pair's words centred on the pair's mean, e_a - mu = (e_a - e_b) / 2 and e_b - mu =
  -(e_a - e_b) / 2; those rows have mean zero, so it is the top right singular vector of the differences, its sign
  chosen to point along their mean. g is returned with unit length.
- Neutralize (``neutralize``): a word that should carry no gender ("receptionist") loses its component along g,
  e - (e.g / ||g||^2) g; after it, cos(e, g) = 0. As the course, the result is not rescaled to unit length.
- Equalize (``equalize``): a pair that should differ only in gender ("grandmother", "grandfather") is moved so that
  both words have the same part orthogonal to g, mu_orth (the orthogonal part of their mean mu = (e_1 + e_2) / 2),
  and opposite parts along g; then any neutralized word is at the same distance from both. The course's formula:
  mu_B = (mu.g / ||g||^2) g, mu_orth = mu - mu_B, e_iB = (e_i.g / ||g||^2) g, and
  e_i = mu_orth + sqrt(|1 - ||mu_orth||^2|) (e_iB - mu_B) / ||(e_i - mu_orth) - mu_B||.
  Its denominator is ||e_i - mu||, which also holds the pair's orthogonal difference, where Bolukbasi's is
  ||e_iB - mu_B||; so the course's e_i has norm^2 = ||mu_orth||^2 + (1 - ||mu_orth||^2) ||e_1B - e_2B||^2 /
  ||e_1 - e_2||^2, at most 1, and 1 only when the pair's difference lies along g.
- ``debias``: all of it on a table, with a report of what moved.
"""

from __future__ import annotations

import numpy as np

from dltool.errors import UserError, choices
from dltool.word_vectors import lookup, normalize

# Bolukbasi et al. 2016's definitional pairs (their definitional_pairs.json), female first: g points to "female"
GENDER_PAIRS = (("woman", "man"), ("she", "he"), ("her", "his"), ("herself", "himself"), ("daughter", "son"),
                ("mother", "father"), ("girl", "boy"), ("female", "male"), ("mary", "john"), ("gal", "guy"))
# single-word pairs of Bolukbasi et al.'s equalize_pairs.json, lowercased; the course equalizes ("man", "woman")
EQUALIZE_PAIRS = (("woman", "man"), ("women", "men"), ("girl", "boy"), ("girls", "boys"), ("mother", "father"),
                  ("mothers", "fathers"), ("daughter", "son"), ("daughters", "sons"), ("sister", "brother"),
                  ("sisters", "brothers"), ("aunt", "uncle"), ("niece", "nephew"), ("queen", "king"),
                  ("queens", "kings"), ("princess", "prince"), ("grandmother", "grandfather"),
                  ("granddaughter", "grandson"), ("grandma", "grandpa"), ("mom", "dad"), ("moms", "dads"),
                  ("lady", "gentleman"), ("ladies", "gentlemen"), ("females", "males"),
                  ("businesswoman", "businessman"), ("chairwoman", "chairman"), ("spokeswoman", "spokesman"),
                  ("congresswoman", "congressman"), ("councilwoman", "councilman"), ("schoolgirl", "schoolboy"),
                  ("motherhood", "fatherhood"), ("sorority", "fraternity"))
# occupations whose gender projection the report shows: the extreme "she" and "he" ones of Bolukbasi et al.'s Fig. 1
# and the course's examples
OCCUPATIONS = ("homemaker", "nurse", "receptionist", "librarian", "hairdresser", "nanny", "housekeeper", "stylist",
               "teacher", "doctor", "engineer", "programmer", "scientist", "architect", "philosopher", "captain",
               "pilot", "warrior", "magician", "financier")
METHODS = ("mean", "pca")
DISTANCE_WORDS = 3  # neutral words whose distance to each equalized word the report gives


def _pairs(index: dict, pairs) -> list[tuple[int, int]]:
    """Rows of the pairs whose two words are in the vocabulary (looked up lowercase)."""
    return [(index[a.lower()], index[b.lower()]) for a, b in pairs if a.lower() in index and b.lower() in index]


def bias_direction(words, vectors, pairs, method="mean") -> np.ndarray:
    """The unit bias direction g of the ``pairs`` (a, b) present in the vocabulary, from e_a - e_b on unit vectors:
    their mean (``"mean"``) or their top principal component (``"pca"``, Bolukbasi's), pointing along the mean."""
    if method not in METHODS:
        raise UserError(f"unknown bias direction method {method!r}: choose {choices(METHODS)}")
    unit = normalize(vectors)
    rows = _pairs(lookup([str(w) for w in words]), pairs)
    if not rows:
        raise UserError(f"none of the {len(list(pairs))} gendered pairs has both words in the vocabulary of "
                        f"{len(unit)} words")
    a, b = np.array(rows).T
    differences = (unit[a] - unit[b]).astype(np.float64)
    mean = differences.mean(axis=0)
    g = mean if method == "mean" else np.linalg.svd(differences, full_matrices=False)[2][0]
    if method == "pca" and g @ mean < 0:
        g = -g
    norm = np.linalg.norm(g)
    if norm == 0:
        raise UserError("the gendered pairs' differences cancel out: the bias direction is zero")
    return g / norm


def _along(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The projection (e.g / ||g||^2) g of a vector or of each row of a matrix on g."""
    gg = float(g @ g)
    if gg == 0:
        raise UserError("the bias direction g is zero: nothing to project on")
    return (e @ g / gg)[..., None] * g


def neutralize(e, g) -> np.ndarray:
    """e - (e.g / ||g||^2) g, the course's neutralization: e (a vector, or rows of a matrix) without its component
    along g."""
    e, g = np.asarray(e, dtype=np.float64), np.asarray(g, dtype=np.float64)
    return e - _along(e, g)


def equalize(e_w1, e_w2, g) -> tuple[np.ndarray, np.ndarray]:
    """The course's equalization of a pair (two vectors, or matching rows of two matrices), unit-normalized first:
    both get the orthogonal part mu_orth of their mean and opposite parts along g (the module docstring's formula).
    Two equal vectors both become mu_orth."""
    g = np.asarray(g, dtype=np.float64)
    e1, e2 = normalize(np.asarray(e_w1, dtype=np.float64)), normalize(np.asarray(e_w2, dtype=np.float64))
    mu = (e1 + e2) / 2
    mu_b = _along(mu, g)
    mu_orth = mu - mu_b
    scale = np.sqrt(np.abs(1 - np.sum(mu_orth**2, axis=-1, keepdims=True)))
    out = []
    for e in (e1, e2):
        e_b = _along(e, g)
        norm = np.linalg.norm((e - mu_orth) - mu_b, axis=-1, keepdims=True)
        out.append(scale * (e_b - mu_b) / np.where(norm > 0, norm, 1) + mu_orth)
    return out[0], out[1]


def _cosines(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    return normalize(vectors) @ (g / np.linalg.norm(g))


def debias(words, vectors, pairs, neutral=None, equalize_pairs=None, method="mean") -> tuple[np.ndarray, dict]:
    """Bolukbasi's hard debiasing as the course does it, on unit vectors: g from the gendered ``pairs``
    (``GENDER_PAIRS``), every word in none of the pairs (or only the words of ``neutral``) neutralized, the
    ``equalize_pairs`` (``EQUALIZE_PAIRS`` when None) equalized. Returns the new vectors (float64, one row per word)
    and a report: g's method and pairs used, the cosine with g of the ``OCCUPATIONS`` in the vocabulary before and
    after, and for each equalized pair its words' cosines with g and their distances to a few neutral words."""
    words = [str(w) for w in words]
    unit = normalize(np.asarray(vectors, dtype=np.float64))
    if unit.ndim != 2 or len(words) != len(unit) or not words:
        raise UserError(f"debiasing needs one vector per word, at least one: {len(words)} words, vectors of shape "
                        f"{unit.shape}")
    index = lookup(words)
    pairs = [tuple(p) for p in pairs]
    equalize_pairs = [tuple(p) for p in (EQUALIZE_PAIRS if equalize_pairs is None else equalize_pairs)]
    g = bias_direction(words, unit, pairs, method)
    gendered = {i for pair in _pairs(index, pairs) + _pairs(index, equalize_pairs) for i in pair}
    if neutral is None:
        rows = np.array([i for i in range(len(words)) if i not in gendered], dtype=np.int64)
    else:
        rows = np.array(sorted({index[w.lower()] for w in neutral if w.lower() in index}), dtype=np.int64)
    new = unit.copy()
    new[rows] = neutralize(unit[rows], g)
    equalized = _pairs(index, equalize_pairs)
    if equalized:
        a, b = np.array(equalized).T
        new[a], new[b] = equalize(unit[a], unit[b], g)
    occupations = [w for w in OCCUPATIONS if w in index]
    jobs = [index[w] for w in occupations]
    neutral_rows = set(rows.tolist())
    near = [i for i in jobs if i in neutral_rows][:DISTANCE_WORDS] or rows[:DISTANCE_WORDS].tolist()
    report = {
        "method": method, "direction_pairs": [[words[i], words[j]] for i, j in _pairs(index, pairs)],
        "neutralized": len(rows),
        "occupations": {w: {"before": float(before), "after": float(after)} for w, before, after in
                        zip(occupations, _cosines(unit[jobs], g), _cosines(new[jobs], g))},
        "equalized": [_equalized(words, unit, new, g, i, j, near) for i, j in equalized],
        "not_equalized": [list(p) for p in equalize_pairs if not _pairs(index, [p])],
    }
    return new, report


def _equalized(words, unit, new, g, i, j, near) -> dict:
    """One equalized pair's cosines with g and distances to the ``near`` neutral words, before and after."""
    def distances(table):
        return {words[n]: [float(np.linalg.norm(table[k] - table[n])) for k in (i, j)] for n in near}

    return {"pair": [words[i], words[j]], "before": _cosines(unit[[i, j]], g).tolist(),
            "after": _cosines(new[[i, j]], g).tolist(), "distances_before": distances(unit),
            "distances_after": distances(new)}
