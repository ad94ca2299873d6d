"""Sentences labelled with their sentiment, for sentence classification (course 5, week 2's Emojify: a label a
sentence from few labelled sentences, which word vectors learned on a large corpus help with).

Built in: the 200 movie-review sentences (100 negative, 100 positive) of Pang & Lee's sentence polarity data set
("Seeing stars", ACL 2005) that gensim ships as test data (``pang_lee_polarity.cor``, a ``__label__neg`` or
``__label__pos`` prefix a line). Or ``data.path=FILE``: the user's CSV with a header row, the sentence in column
``data.text`` and its label (any text: the classes are the distinct labels, sorted) in column ``data.target``.

Words: each sentence through gensim's Wikipedia tokenizer (dltool.data.wiki.tokenize: lowercased runs of 2 to 15
letters), the same one ``data=wiki`` reads its corpus with, so that the words of an embedding run (task=embed) and of
these sentences match as written. The vocabulary (``info["vocabulary"]``): ``<pad>`` = 0, ``<unk>`` = 1, then the
words the whole data set holds at least ``min_count`` times, most frequent first (ties alphabetically). It is taken
from every split's text, labels unseen: a word seen only in a test sentence still has a row of its own, which a net
trained from scratch never moves from its random start and an embedding run fills with its vector (the course's
point: "adore" is never in the training sentences, but its vector is near "love"'s).

Encoding: ``x`` (N, T) int64 word ids, T = ``max_length`` (longer sentences are cut), ``<pad>`` after a sentence's
end; ``y`` (N,) the label's index in ``info["classes"]``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.sources import read_text
from dltool.data.wiki import gensim_file, tokenize
from dltool.data.wiki import vocabulary as wiki_vocabulary
from dltool.errors import UserError, check_number, choices

SPECIALS = ("<pad>", "<unk>")
PAD, UNK = 0, 1
BUILT_IN = "pang_lee_polarity.cor"
LABELS = {"__label__neg": "negative", "__label__pos": "positive"}


def read_polarity(path: Path) -> list[tuple[str, str]]:
    """(sentence, label) pairs of a fastText-style file: the label first (``__label__neg`` or ``__label__pos``). The
    file is not UTF-8 (a Windows-1252 dash among its bytes); read as Latin-1, every byte is a character, and none
    but the letters makes a word."""
    pairs = []
    for line in path.read_text(encoding="latin-1").splitlines():
        label, _, text = line.partition(" ")
        if label in LABELS:
            pairs.append((text, LABELS[label]))
    return pairs


def read_csv(path: Path, text: str, target: str) -> list[tuple[str, str]]:
    """(sentence, label) pairs from the user's CSV; one UserError line for a missing column or an empty cell."""
    rows = csv.reader(io.StringIO(read_text(path, "a CSV with a header row, a sentence and its label a row")))
    header = next(rows, None)
    if not header:
        raise UserError(f"{path} is empty: give a CSV with a header row, then a sentence and its label a row")
    header = [h.strip() for h in header]
    for key, column in (("data.text", text), ("data.target", target)):
        if column not in header:
            raise UserError(f"{path} has no column '{column}' ({key}); its columns: {choices(header)}")
    i, j = header.index(text), header.index(target)
    pairs = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise UserError(f"{path}, line {line}: {len(row)} fields where the header has {len(header)}")
        if not row[j].strip():
            raise UserError(f"{path}, line {line}: the label (column '{target}') is empty")
        pairs.append((row[i], row[j].strip()))
    return pairs


def vocabulary(sentences: list[list[str]], min_count: int) -> list[str]:
    """``<pad>``, ``<unk>``, then the words seen >= ``min_count`` times, most frequent first (ties alphabetically):
    data=wiki's rule (dltool.data.wiki.vocabulary)."""
    return [*SPECIALS, *wiki_vocabulary(sentences, min_count)[0]]


def encode(sentences: list[list[str]], words: list[str], length: int) -> np.ndarray:
    """(N, length) int64: each word's id (``<unk>`` for one out of ``words``), cut at ``length``, ``<pad>`` after."""
    ids = {w: i for i, w in enumerate(words)}
    x = np.full((len(sentences), length), PAD, dtype=np.int64)
    for row, sentence in enumerate(sentences):
        known = [ids.get(w, UNK) for w in sentence[:length]]
        x[row, :len(known)] = known
    return x


def load(cfg) -> Pools:
    min_count = check_number(cfg.min_count, "data.min_count", low=1, integer=True)
    length = check_number(cfg.max_length, "data.max_length", low=1, integer=True)
    if cfg.path is None:
        pairs, sources = read_polarity(gensim_file(BUILT_IN)), {}
    else:
        from dltool.data.sources import describe

        path = Path(str(cfg.path))
        pairs, sources = read_csv(path, str(cfg.text), str(cfg.target)), {"path": describe(path)}
    sentences = [tokenize(text) for text, _ in pairs]
    empty = [k for k, words in enumerate(sentences) if not words]
    if empty:
        raise UserError(f"sentence {empty[0] + 1} of the data has no words (runs of 2 to 15 letters): every row "
                        f"needs text in column data.text")
    if len(pairs) < 8:
        raise UserError(f"the data has {len(pairs)} sentences: too few to split into train, train-dev, dev and test")
    classes = sorted({label for _, label in pairs})
    words = vocabulary(sentences, min_count)
    y = np.array([classes.index(label) for _, label in pairs], dtype=np.int64)
    info = {"vocabulary": words, "cut": int(sum(len(s) > length for s in sentences))}
    return Pools(encode(sentences, words, length), y, classes, sources=sources, tokens=True, info=info)
