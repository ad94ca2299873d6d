"""Running text for word embeddings (course 5, week 2: word2vec and GloVe learn a word's vector from the words around
it), offline: two corpora shipped inside gensim's wheel as its test data, or the user's own plain-text file.

``data.corpus=wiki``: a shortened dump of English Wikipedia (``enwiki-latest-pages-articles1.xml-p000000010p000030302
-shortened.bz2``, 106 articles), parsed by gensim's own ``WikiCorpus`` (markup stripped, each article's text through
``gensim.corpora.wikicorpus.tokenize``: lowercased runs of letters, 2 to 15 characters, no punctuation, no
numbers): 452,944 tokens, parsed in about 2 s on one CPU core, so nothing is cached. ``data.corpus=lee``: the Lee
news corpus (``lee_background.cor``, 300 short articles, one a line), and ``data.path=FILE`` a plain UTF-8 text
file, one document (or sentence) a line, both through the same ``tokenize``.

Vocabulary: the words of the whole corpus seen at least ``min_count`` times (at most ``max_vocab`` of them, the most
frequent), sorted most frequent first (ties alphabetically); id = rank, so ``info["classes"]`` is the vocabulary and
every checkpoint carries it. Rarer words are removed from the text before anything else, as word2vec does: a window
then spans the words around them. Each document is then cut into rows of ``chunk`` ids (the last row of a document
padded with ``PAD`` = -1): a row is an example, so the run's split holds out whole pieces of documents for
train-dev, dev and test, and pairs never cross a row's ends (with ``chunk=100`` and ``window=5`` that loses about 3%
of the pairs a document would give: (window + 1) / (2 chunk)).

``window`` (the context words on each side of a target, fixed: every word within it counts) and ``sample`` (the
subsampling threshold t of Mikolov et al. 2013, "Distributed representations of words and phrases", section 2.3:
a word of frequency f is discarded with probability 1 - sqrt(t / f), so ``keep_probability`` = min(1, sqrt(t / f));
0 = off) are read here and kept in ``info`` for task=embed, which draws the subsampling afresh for every training
batch from the run's seed (dltool.tasks.embed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.sources import read_text
from dltool.errors import UserError, check_number, choices

PAD = -1  # past a document's end in its last row
CORPORA = {"wiki": "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
           "lee": "lee_background.cor"}


def gensim_file(name: str) -> Path:
    """A file of gensim's test data (inside its installed wheel)."""
    from gensim.test.utils import datapath

    return Path(datapath(name))


def tokenize(text: str) -> list[str]:
    """gensim's Wikipedia tokenizer: lowercased runs of letters of 2 to 15 characters."""
    from gensim.corpora.wikicorpus import tokenize as wiki_tokenize

    return wiki_tokenize(text)


def wiki_articles(path: Path) -> list[list[str]]:
    """The token lists of every article of a Wikipedia XML dump (bz2), parsed by gensim's WikiCorpus in this process
    (``processes=1``: the same articles in the same order, and no pool of workers)."""
    import logging

    from gensim.corpora.wikicorpus import WikiCorpus

    logging.getLogger("gensim").setLevel(logging.WARNING)
    corpus = WikiCorpus(str(path), dictionary={}, processes=1)
    return [list(tokens) for tokens in corpus.get_texts()]


def documents_of_text(text: str) -> list[list[str]]:
    """One document a line (blank lines and lines without a word skipped)."""
    return [words for words in (tokenize(line) for line in text.splitlines()) if words]


def vocabulary(documents, min_count: int, max_vocab: int | None = None) -> tuple[list[str], list[int]]:
    """The words seen >= ``min_count`` times, most frequent first (ties alphabetically), at most ``max_vocab``; and
    their counts in ``documents``."""
    counts = Counter(w for doc in documents for w in doc)
    kept = sorted((w for w, k in counts.items() if k >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    return kept, [counts[w] for w in kept]


def encode(documents, words: list[str], chunk: int) -> np.ndarray:
    """(rows, chunk) int64 ids: each document's words in the vocabulary (the others removed), cut into rows of
    ``chunk``, the last row of each padded with PAD; documents left with no word give no row."""
    ids = {w: i for i, w in enumerate(words)}
    rows = []
    for doc in documents:
        known = np.array([ids[w] for w in doc if w in ids], dtype=np.int64)
        for lo in range(0, len(known), chunk):
            row = np.full(chunk, PAD, dtype=np.int64)
            piece = known[lo:lo + chunk]
            row[:len(piece)] = piece
            rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, chunk), dtype=np.int64)


def keep_probability(counts, sample: float) -> np.ndarray:
    """Mikolov et al. (2013)'s subsampling: a word of frequency f = count / total is kept with probability
    min(1, sqrt(sample / f)) (discarded with 1 - sqrt(t / f)); every word is kept when ``sample`` is 0; a word that
    never occurs (count 0) gets 1 (it is never drawn anyway)."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    f = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore"):
        return np.where(f > 0, np.minimum(1.0, np.sqrt(sample / np.where(f > 0, f, 1.0))), 1.0)


def load(cfg) -> Pools:
    min_count = check_number(cfg.min_count, "data.min_count", low=1, integer=True)
    max_vocab = None if cfg.max_vocab is None else check_number(cfg.max_vocab, "data.max_vocab", low=2, integer=True)
    window = check_number(cfg.window, "data.window", low=1, integer=True)
    chunk = check_number(cfg.chunk, "data.chunk", low=2, integer=True)
    sample = check_number(cfg.sample, "data.sample", low=0, high=1)
    if cfg.path is not None:
        path = Path(str(cfg.path))
        documents = documents_of_text(read_text(path, "plain text, a document or sentence a line"))
        if not documents:
            raise UserError(f"{path} has no words (runs of 2 to 15 letters): give plain text, a document a line")
        from dltool.data.sources import describe

        sources, corpus = {"path": describe(path)}, str(path)
    else:
        if cfg.corpus not in CORPORA:
            raise UserError(f"unknown data.corpus '{cfg.corpus}'; choose from: {choices(CORPORA)} (or data.path=FILE)")
        path = gensim_file(CORPORA[cfg.corpus])
        documents = wiki_articles(path) if cfg.corpus == "wiki" else documents_of_text(path.read_text("utf-8"))
        sources, corpus = {}, str(cfg.corpus)
    words, counts = vocabulary(documents, min_count, max_vocab)
    if len(words) < 2:
        raise UserError(f"the corpus has {len(words)} word(s) seen at least data.min_count={min_count} times: "
                        f"word vectors need at least two; lower data.min_count or give more text")
    x = encode(documents, words, chunk)
    if len(x) < 4:
        raise UserError(f"the corpus gives {len(x)} rows of data.chunk={chunk} words: too few to split into "
                        f"train, train-dev, dev and test; lower data.chunk or give more text")
    info = {"counts": counts, "window": window, "sample": float(sample), "corpus": corpus,
            "tokens": int(sum(len(d) for d in documents))}
    # y is x: there is no label, the words are what is learned (and the split's check of two classes holds)
    return Pools(x, x.copy(), words, sources=sources, stratify=False, tokens=True, info=info)
