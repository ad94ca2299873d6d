"""Word vectors (course 5, week 2): how good a table of word embeddings is, and the word2vec text file that holds one.

A table is a list of ``words``, most frequent first, and ``vectors`` (V, d), row i the embedding e_i of word i. All
comparisons are by cosine similarity, cos(u, v) = u.v / (||u|| ||v||), so every function first scales the rows to unit
length (``normalize``; a zero row stays zero and is then at cosine 0 from everything).

- Similarity (``similarity``): WordSim-353 (Finkelstein et al. 2002) gives 353 word pairs a human score of relatedness,
  0 to 10. A table is as good as the Spearman rank correlation rho between its cosines and those scores over the
  pairs whose two words it knows: rho is Pearson's correlation of the two rankings (ties share their mean rank), 1
  when the table orders the pairs as people do. ``coverage`` says which share of the pairs it could score.
- Analogies (``analogy``, ``analogies``): "a is to b as c is to ?" (Mikolov et al. 2013, ``questions-words.txt``:
  14 sections, 5 semantic as ``capital-common-countries``, 9 syntactic, ``gram1-adjective-to-adverb`` ...). The
  course's rule, 3CosAdd: the answer is the word w, other than a, b and c, maximizing cos(e_w, e_b - e_a + e_c) on
  unit vectors ("man is to woman as king is to queen": e_queen is near e_woman - e_man + e_king). A question counts
  only when its four words are in the (restricted) vocabulary; accuracy is the share of those answered right.
- Words are looked up case-insensitively: a table's words are matched by their lowercase form, the first (most
  frequent) of several case variants standing for all, and the variants of a, b and c are never an answer. These are
  gensim's ``evaluate_word_pairs`` and ``evaluate_word_analogies`` (``case_insensitive=True``, ``dummy4unknown=False``)
  rules, and the tests check both give the same figures.

The two test sets are those gensim ships in its wheel's test data (``test_data_dir``). The word2vec text format
(``write_word2vec``, ``read_word2vec``): a header line "V d", then one line a word, "word v1 ... vd", separated by
spaces; gensim's ``KeyedVectors.load_word2vec_format(path, binary=False)`` reads it.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np

from dltool.errors import UserError, check_number

INSTALL = "pip install 'gensim>=4.3,<5'"
BATCH_CELLS = 1 << 22  # analogies score at most this many (question, word) cells at once: 32 MB in float64


def test_data_dir() -> Path:
    """gensim's shipped test data folder (``gensim/test/test_data``: ``wordsim353.tsv``, ``questions-words.txt``),
    found without importing gensim."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the word-vector test sets ship with gensim, which is not installed: {INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    if not folder.is_dir():
        raise UserError(f"gensim's test data folder {folder} is missing (a stripped install?): {INSTALL}")
    return folder


def _lines(path, default: str) -> tuple[Path, list[str]]:
    path = test_data_dir() / default if path is None else Path(path)
    try:
        return path, path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None


def wordsim353(path=None) -> list[tuple[str, str, float]]:
    """The (word1, word2, human score) pairs of WordSim-353 (gensim's ``wordsim353.tsv``), or of a user's file in its
    format: one pair a line, ``word1<TAB>word2<TAB>score``, lines starting with ``#`` skipped. Words lowercased."""
    path, lines = _lines(path, "wordsim353.tsv")
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t") if line.count("\t") == 2 else line.split()
        try:
            a, b, score = fields
            pairs.append((a.strip().lower(), b.strip().lower(), float(score)))
        except ValueError:
            raise UserError(f"{path} line {number}: expected 'word1<TAB>word2<TAB>score', got {line[:80]!r}") from None
    if not pairs:
        raise UserError(f"{path} holds no word pairs: expected lines 'word1<TAB>word2<TAB>score'")
    return pairs


def analogy_questions(path=None) -> dict[str, list[tuple[str, str, str, str]]]:
    """Mikolov's analogy questions (gensim's ``questions-words.txt``), or a user's file in its format, by section:
    a line ``: name`` starts a section, each line after it is four words "a b c d" (a is to b as c is to d).
    Lowercased, in the file's order."""
    path, lines = _lines(path, "questions-words.txt")
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    name = None
    for number, line in enumerate(lines, 1):
        if line.startswith(":"):
            name = line.lstrip(": ").strip()
            sections.setdefault(name, [])
        elif line.strip():
            words = line.lower().split()
            if name is None or len(words) != 4:
                want = "a section line ': name' first" if name is None else "four words 'a b c d'"
                raise UserError(f"{path} line {number}: expected {want}, got {line[:80]!r}")
            sections[name].append(tuple(words))
    if not any(sections.values()):
        raise UserError(f"{path} holds no analogy questions: expected ': section' lines, then lines 'a b c d'")
    return sections


def normalize(vectors) -> np.ndarray:
    """The rows scaled to unit L2 norm (float32 stays float32, anything else becomes float64); a zero row stays
    zero."""
    x = np.asarray(vectors)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def _table(words, vectors) -> tuple[list[str], np.ndarray]:
    """The words and their unit vectors, checked: as many words as rows, at least one."""
    words = [str(w) for w in words]
    x = np.asarray(vectors)
    if x.ndim != 2 or len(words) != len(x):
        raise UserError(f"word vectors must be one row per word: {len(words)} words, vectors of shape {x.shape}")
    if not words:
        raise UserError("the vocabulary is empty: no word vectors to evaluate")
    return words, normalize(x)


def lookup(words, limit=None) -> dict[str, int]:
    """Lowercase word -> row of its first (most frequent) case variant among the first ``limit`` words."""
    index: dict[str, int] = {}
    for i, w in enumerate(words[:limit]):
        index.setdefault(w.lower(), i)
    return index


def _rows(words, vectors, names) -> list[int]:
    index = lookup(words)
    rows = [index.get(str(n).lower()) for n in names]
    unknown = [n for n, r in zip(names, rows) if r is None]
    if unknown:
        raise UserError(f"not in the vocabulary of {len(words)} words: {', '.join(map(str, unknown))}")
    return rows


def _correlation(function, x, y) -> float:
    """A scipy correlation's statistic; nan for fewer than two points or a constant input."""
    if len(x) < 2:
        return float("nan")
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(getattr(stats, function)(x, y)[0])


def similarity(words, vectors, pairs) -> dict:
    """How well cosine similarity ranks word ``pairs`` (word1, word2, human score), e.g. ``wordsim353()``, as people
    do: ``spearman`` rho (and ``pearson`` r) over the ``pairs`` whose two words the table knows, of ``pairs_total``
    (``coverage`` = pairs / pairs_total). nan for fewer than two pairs scored."""
    words, unit = _table(words, vectors)
    index = lookup(words)
    pairs = list(pairs)
    known = [(index[a.lower()], index[b.lower()], float(s)) for a, b, s in pairs
             if a.lower() in index and b.lower() in index]
    rows_a, rows_b, human = (np.array(c) for c in zip(*known)) if known else ([], [], [])
    cosine = np.einsum("ij,ij->i", unit[rows_a], unit[rows_b]).astype(np.float64) if known else np.zeros(0)
    return {"spearman": _correlation("spearmanr", human, cosine), "pearson": _correlation("pearsonr", human, cosine),
            "pairs": len(known), "pairs_total": len(pairs), "coverage": len(known) / len(pairs) if pairs else 0.0}


def _top(scores: np.ndarray, topn: int) -> np.ndarray:
    """The indices of the ``topn`` largest finite scores, largest first (ties: the lower index first)."""
    finite = np.flatnonzero(np.isfinite(scores))
    topn = min(max(int(topn), 0), len(finite))
    if topn < len(finite):
        finite = finite[np.argpartition(-scores[finite], topn - 1)[:topn]] if topn else finite[:0]
    return finite[np.lexsort((finite, -scores[finite]))][:topn]


def nearest(words, vectors, query: str, topn=10) -> list[tuple[str, float]]:
    """The ``topn`` words of highest cosine similarity to ``query``, the word itself excluded, as (word, cosine)."""
    words, unit = _table(words, vectors)
    (row,) = _rows(words, unit, [query])
    scores = (unit @ unit[row]).astype(np.float64)
    scores[row] = -np.inf
    return [(words[i], float(scores[i])) for i in _top(scores, topn)]


def analogy(words, vectors, a: str, b: str, c: str, topn=1) -> list[tuple[str, float]]:
    """"``a`` is to ``b`` as ``c`` is to ?": the ``topn`` words w maximizing cos(e_w, e_b - e_a + e_c) on unit
    vectors, a, b and c excluded, as (word, cosine). ``analogy(words, vectors, "man", "woman", "king")`` -> queen."""
    words, unit = _table(words, vectors)
    ia, ib, ic = _rows(words, unit, [a, b, c])
    target = normalize(unit[ib] - unit[ia] + unit[ic])
    scores = (unit @ target).astype(np.float64)
    scores[[ia, ib, ic]] = -np.inf
    return [(words[i], float(scores[i])) for i in _top(scores, topn)]


def _answers(unit: np.ndarray, keys: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The 3CosAdd answer (a row) to each question ``q`` (n, 3) of rows a, b, c, in batches of whole matrix products;
    a row whose lowercase form is that of a, b or c (``keys``: each row's first case variant) is never the answer."""
    answers = np.empty(len(q), dtype=np.int64)
    variants = not np.array_equal(keys, np.arange(len(keys)))
    step = max(1, BATCH_CELLS // len(unit))
    for start in range(0, len(q), step):
        a, b, c = q[start:start + step].T
        scores = normalize(unit[b] - unit[a] + unit[c]) @ unit.T
        if variants:
            scores[(keys == a[:, None]) | (keys == b[:, None]) | (keys == c[:, None])] = -np.inf
        else:
            for rows in (a, b, c):
                scores[np.arange(len(rows)), rows] = -np.inf
        answers[start:start + step] = scores.argmax(axis=1)
    return answers


def _score(correct: int, used: int, total: int) -> dict:
    return {"accuracy": correct / used if used else float("nan"), "correct": correct, "questions": used,
            "questions_total": total, "coverage": used / total if total else 0.0}


def analogies(words, vectors, questions: dict, restrict=None) -> dict:
    """3CosAdd accuracy on analogy ``questions`` (``analogy_questions()``) among the ``restrict`` most frequent words
    (all when None): overall (``accuracy``, ``correct``, ``questions`` used, ``questions_total``, ``coverage``), the
    same per section under ``sections``, and for the ``semantic`` and the ``syntactic`` (``gram*``) sections together.
    A question counts only when its four words are among those words; accuracy is nan where none counts."""
    words, unit = _table(words, vectors)
    limit = len(words) if restrict is None else min(check_number(restrict, "restrict", low=1, integer=True), len(words))
    index = lookup(words, limit)
    unit = unit[:limit]
    keys = np.array([index[w.lower()] for w in words[:limit]], dtype=np.int64)
    sections, tally = {}, {"semantic": [0, 0, 0], "syntactic": [0, 0, 0], "all": [0, 0, 0]}
    for name, items in questions.items():
        rows = [[index[w.lower()] for w in item] for item in items if all(w.lower() in index for w in item)]
        rows = np.array(rows, dtype=np.int64).reshape(-1, 4)
        correct = int((keys[_answers(unit, keys, rows[:, :3])] == rows[:, 3]).sum()) if len(rows) else 0
        sections[name] = _score(correct, len(rows), len(items))
        for group in ("syntactic" if name.startswith("gram") else "semantic", "all"):
            tally[group] = [t + n for t, n in zip(tally[group], (correct, len(rows), len(items)))]
    return {**_score(*tally["all"]), "semantic": _score(*tally["semantic"]), "syntactic": _score(*tally["syntactic"]),
            "sections": sections, "restrict": limit}


def write_word2vec(path, words, vectors) -> None:
    """Write a table in the word2vec text format ("V d", then "word v1 ... vd" a line; float32 to 9 significant
    digits, float64 to 17, both exact when read back), atomically: never half a file."""
    from dltool.runs import write_atomic

    words = [str(w) for w in words]
    x = np.asarray(vectors)
    if x.ndim != 2 or len(words) != len(x):
        raise UserError(f"word vectors must be one row per word: {len(words)} words, vectors of shape {x.shape}")
    bad = [w for w in words if not w or len(w.split()) != 1 or w != w.strip()]
    if bad:
        raise UserError(f"the word2vec text format cannot hold a word that is empty or has whitespace: {bad[0]!r}")
    digits = 9 if x.dtype in (np.float16, np.float32) else 17
    line = " ".join([f"%.{digits}g"] * x.shape[1])

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(f"{x.shape[0]} {x.shape[1]}\n")
            f.writelines(f"{word} {line % tuple(row)}\n" for word, row in zip(words, x.astype(np.float64)))

    write_atomic(Path(path), write, sync=False)


def read_word2vec(path) -> tuple[list[str], np.ndarray]:
    """The words and float32 vectors (V, d) of a word2vec text file (gensim's ``save_word2vec_format(binary=False)``,
    word2vec's ``-binary 0``)."""
    path, lines = _lines(path, "")
    header = lines[0].split() if lines else []
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise UserError(f"{path} is not a word2vec text file: its first line must be 'V d' (words, dimensions), "
                        f"got {(lines[0] if lines else '')[:80]!r}")
    count, dim = map(int, header)
    body = [line for line in lines[1:] if line.strip()]
    if len(body) != count:
        raise UserError(f"{path}: the header says {count} words, the file has {len(body)} lines of vectors")
    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    for i, line in enumerate(body):
        word, *values = line.split()
        try:
            if len(values) != dim:
                raise ValueError
            vectors[i] = np.array(values, dtype=np.float64)
        except ValueError:
            raise UserError(f"{path}: the vector of {word!r} must be {dim} numbers, got {line[len(word):][:80]!r}") \
                from None
        words.append(word)
    return words, vectors
