"""Sentences tagged with named entities, for named-entity recognition (course 5's first sequence example: "Harry
Potter and Hermione Granger invented a new spell", each word tagged as part of a person's name or not).

Generated offline: ``n`` sentences, each one of ``TEMPLATES`` (chosen with numpy's generator seeded by ``data.seed``)
with Faker's names, cities, companies and dates (Faker ``en_US``, ``seed_instance(data.seed)``) slotted in, split into
words (``tokenize``: runs of letters and digits, with inner ``-``, ``'`` or ``.``; each other sign a word of its own)
and tagged in BIO: ``B-TYPE`` on an entity's first word, ``I-TYPE`` on the others, ``O`` outside, the types PER,
LOC, ORG and DATE. Or ``data.path=FILE``: a CoNLL-style file, a word and its tag a line (the first and last fields
of the line), a blank line between sentences, ``-DOCSTART-`` lines skipped; its tags must be BIO.

Encoding: ``x`` (N, T, 2) int64 with T = ``max_length`` (longer sentences are left out): channel 0 the word's id in
``info["words"]`` (every word of the data, lowercased if ``data.lowercase``, after ``<pad>`` = 0 and ``<unk>`` = 1;
task=tag maps the words its training split holds fewer than ``data.min_count`` times to ``<unk>``: names seen only
in dev or test are unknown to the net, as they would be in use), channel 1 the word's shape id in ``SHAPES`` (Xx a
capitalized word, X all capitals, x lowercase, d digits, p punctuation, mixed anything else; 0 for padding): what
lets a net guess that an unknown capitalized word after "Mr" is a name. ``y`` (N, T) the tag ids, ``-1`` past the
sentence's end. ``info["classes"]`` are the tags (O first), so every checkpoint carries tags, words and shapes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.sources import read_text
from dltool.errors import UserError, check_bool, check_number

SPECIALS = ("<pad>", "<unk>")
PAD, UNK = 0, 1
TAG_PAD = -1  # y past a sentence's end
SHAPES = ("<pad>", "Xx", "X", "x", "d", "p", "mixed")
TYPES = ("PER", "LOC", "ORG", "DATE")
WORD = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")
TEMPLATES = (
    "{PER} flew to {LOC} on {DATE} .", "Yesterday {PER} met {PER} in {LOC} .", "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened a new office in {LOC} on {DATE} .", "On {DATE} , {PER} joined {ORG} as an engineer .",
    "Mr {PER} said that {ORG} will hire more people .", "{PER} was born in {LOC} on {DATE} .",
    "Shares of {ORG} fell sharply after {DATE} .", "The mayor of {LOC} , {PER} , visited {ORG} .",
    "{PER} and {PER} invented a new spell .", "According to {PER} , the meeting in {LOC} starts at noon .",
    "{ORG} signed a deal with {ORG} on {DATE} .", "Dr {PER} moved from {LOC} to {LOC} last year .",
    "I sent the letter to {PER} at {ORG} .", "The train from {LOC} arrives late every Monday .",
    "{PER} has lived in {LOC} since {DATE} .", "Mrs {PER} thanked {PER} for the flowers .",
    "Our team at {ORG} finished the project before {DATE} .", "Tickets for the concert in {LOC} sold out quickly .",
    "{PER} will speak at the conference of {ORG} in {LOC} .", "The weather in {LOC} was cold on {DATE} .",
    "She asked {PER} whether {ORG} pays well .", "He bought a house near {LOC} with {PER} .",
    "Nobody at the office knew why the printer was broken .", "{ORG} reported record profits for {DATE} .",
)
FORMATS = ("{month} {day} , {year}", "{day} {month} {year}", "{month} {year}", "{year}", "{month} {day}")


def tokenize(text: str) -> list[str]:
    return WORD.findall(text)


def shape(word: str) -> int:
    """The id in ``SHAPES`` of a word's look."""
    if word.isdigit():
        return SHAPES.index("d")
    if not any(c.isalnum() for c in word):
        return SHAPES.index("p")
    if word.isalpha():
        if word.isupper():
            return SHAPES.index("X")
        if word.islower():
            return SHAPES.index("x")
        if word[0].isupper() and word[1:].islower():
            return SHAPES.index("Xx")
    return SHAPES.index("mixed")


def tag_entity(words: list[str], kind: str) -> list[str]:
    return [f"{'B' if i == 0 else 'I'}-{kind}" for i in range(len(words))]


def generate(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """``n`` (words, tags) sentences from the templates with Faker's entities slotted in."""
    from faker import Faker

    faker = Faker("en_US")
    faker.seed_instance(seed)
    rng = np.random.default_rng(seed)

    def entity(kind: str) -> str:
        if kind == "PER":
            u = rng.random()
            return faker.last_name() if u < 0.2 else faker.first_name() if u < 0.35 else faker.name_nonbinary() \
                if u < 0.45 else f"{faker.first_name()} {faker.last_name()}"
        if kind == "LOC":
            return faker.city() if rng.random() < 0.7 else faker.country() if rng.random() < 0.5 else faker.state()
        if kind == "ORG":
            return faker.company()
        day = faker.date_between("-60y", "+5y")
        form = FORMATS[int(rng.integers(len(FORMATS)))]
        return form.format(month=day.strftime("%B"), day=day.day, year=day.year)

    sentences = []
    for k in rng.integers(len(TEMPLATES), size=n).tolist():
        words, tags = [], []
        for part in re.split(r"(\{[A-Z]+\})", TEMPLATES[k]):
            if part.startswith("{"):
                kind = part[1:-1]
                found = tokenize(entity(kind))
                words += found
                tags += tag_entity(found, kind)
            else:
                found = tokenize(part)
                words += found
                tags += ["O"] * len(found)
        sentences.append((words, tags))
    return sentences


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """The sentences of a CoNLL-style file: (words, tags), a word and its tag a line, blank lines between."""
    text = read_text(path, "a word and its tag a line")
    sentences, words, tags = [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        tag = fields[-1]
        if len(fields) < 2 or not (tag == "O" or re.fullmatch(r"[BI]-\S+", tag)):
            raise UserError(f"{path} line {number}: expected a word and a BIO tag (O, B-TYPE or I-TYPE), got "
                            f"{line.strip()!r}")
        words.append(fields[0])
        tags.append(tag)
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise UserError(f"{path} has no sentence: a word and its tag a line, a blank line between sentences")
    return sentences


def tag_list(sentences) -> list[str]:
    """O, then B- and I- of every type the sentences hold, types sorted."""
    kinds = sorted({t[2:] for _, tags in sentences for t in tags if t != "O"})
    return ["O", *(f"{p}-{k}" for k in kinds for p in "BI")]


def encode(sentences, words: list[str], tags: list[str], length: int, lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, length, 2) word and shape ids, (N, length) tag ids (``TAG_PAD`` past the end)."""
    ids, tag_ids = {w: i for i, w in enumerate(words)}, {t: i for i, t in enumerate(tags)}
    x = np.zeros((len(sentences), length, 2), dtype=np.int64)
    y = np.full((len(sentences), length), TAG_PAD, dtype=np.int64)
    for row, (ws, ts) in enumerate(sentences):
        x[row, :len(ws), 0] = [ids.get(w.lower() if lowercase else w, UNK) for w in ws]
        x[row, :len(ws), 1] = [shape(w) for w in ws]
        y[row, :len(ts)] = [tag_ids[t] for t in ts]
    return x, y


def load(cfg) -> Pools:
    lowercase = check_bool(cfg.lowercase, "data.lowercase")
    length = check_number(cfg.max_length, "data.max_length", low=1, integer=True)
    min_count = check_number(cfg.min_count, "data.min_count", low=1, integer=True)
    if cfg.path is not None:
        path = Path(str(cfg.path))
        every = read_conll(path)
        from dltool.data.sources import describe

        sources = {"path": describe(path)}
    else:
        every = generate(check_number(cfg.n, "data.n", low=20, integer=True),
                         check_number(cfg.seed, "data.seed", low=0, integer=True))
        sources = {}
    sentences = [s for s in every if len(s[0]) <= length]
    if not sentences:
        raise UserError(f"no sentence has at most data.max_length={length} words (the shortest has "
                        f"{min(len(s[0]) for s in every)})")
    tags = tag_list(sentences)
    if len(tags) < 2:
        raise UserError("the data has no entity (every tag is O): task=tag needs B-TYPE and I-TYPE tags")
    words = [*SPECIALS, *sorted({w.lower() if lowercase else w for ws, _ in sentences for w in ws})]
    x, y = encode(sentences, words, tags, length, lowercase)
    info = {"words": words, "shapes": list(SHAPES), "min_count": min_count, "lowercase": lowercase,
            "max_length": length}
    return Pools(x, y, tags, sources=sources, stratify=False, tokens=True, info=info)
