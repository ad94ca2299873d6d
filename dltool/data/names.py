"""Names as sequences of characters, for a character-level language model (course 5's "Dinosaurus Island": learn the
names in dinos.txt one character at a time, then sample new ones).

The names are generated offline with Faker (its name lists ship inside the package; nothing is downloaded): ``n``
distinct names (``kind`` first or last names) drawn from one Faker a locale, each seeded with ``data.seed``
(``Faker.seed_instance``), the locales taken in turn. Faker's own choice among several locales draws from a random
generator shared by every Faker in the process, which ``seed_instance`` does not seed: one Faker a locale is what
keeps the same seed giving the same names. Or ``data.path=FILE``: the user's own items, one a line (the course's
dinos.txt), blank lines skipped, repeats kept once.

Encoding, the course's: a name is ``<s>`` (start), its characters, ``</s>`` (end, the course's newline), padded with
``<pad>`` to ``max_length + 2`` ids. ``x`` is that sequence without its last id and ``y`` without its first: at each
step the next character is the target, and a pad target is never scored (dltool.tasks.lm). The vocabulary is the
four special tokens, then the characters seen at least ``min_count`` times, sorted; a rarer character becomes
``<unk>`` (the course's unknown token: rare characters teach nothing but noise), which sampling never emits. Items
longer than ``max_length`` are left out (cut short, they would teach that names end mid-word). The vocabulary is
in ``info`` (``classes``: every token, index = id), so every checkpoint carries it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from dltool.data import Pools
from dltool.data.sources import read_text
from dltool.errors import UserError, check_bool, check_number, choices

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, START, END, UNK = range(len(SPECIALS))
KINDS = {"first": "first_name", "last": "last_name"}  # data.kind -> Faker's provider method
DRAWS = 50  # draws allowed a name asked for: a locale's list runs out long before


def generate(n: int, locales: list[str], kind: str, seed: int, lowercase: bool = True,
             max_length: int | None = None) -> list[str]:
    """``n`` distinct names (as lowercased, if so) of at most ``max_length`` characters, in the order drawn; a
    UserError when the locales hold fewer."""
    from faker import Faker

    fakers = []
    for locale in locales:
        faker = Faker(locale)
        faker.seed_instance(seed)
        fakers.append(getattr(faker, KINDS[kind]))
    seen: dict[str, None] = {}
    for i in range(DRAWS * n):
        if len(seen) == n:
            break
        name = fakers[i % len(fakers)]().strip()
        name = name.lower() if lowercase else name
        if name and (max_length is None or len(name) <= max_length):
            seen.setdefault(name, None)
    if len(seen) < n:
        raise UserError(f"data.n={n} distinct {kind} names: locales {choices(locales)} gave only {len(seen)} in "
                        f"{DRAWS * n} draws; lower data.n or add locales to data.locales")
    return list(seen)


def read_items(path: Path, lowercase: bool) -> list[str]:
    """The lines of the user's file, stripped, blank ones skipped, each kept once (the first time)."""
    text = read_text(path, "a text file, one item a line")
    items = (line.strip() for line in text.splitlines())
    return list(dict.fromkeys(item.lower() if lowercase else item for item in items if item))


def vocabulary(items: list[str], min_count: int) -> list[str]:
    """Every token, index = id: the special ones, then the characters seen at least ``min_count`` times, sorted."""
    counts = Counter("".join(items))
    return [*SPECIALS, *sorted(c for c, k in counts.items() if k >= min_count)]


def encode(items: list[str], tokens: list[str], max_length: int) -> np.ndarray:
    """(len(items), max_length + 2) int64 ids: start, the characters (unknown ones as ``<unk>``), end, pads."""
    ids = {t: i for i, t in enumerate(tokens) if i >= len(SPECIALS)}
    out = np.full((len(items), max_length + 2), PAD, dtype=np.int64)
    for row, item in enumerate(items):
        out[row, :len(item) + 2] = [START, *(ids.get(c, UNK) for c in item), END]
    return out


def decode(ids, tokens: list[str]) -> str:
    """The characters of one sequence of ids, up to its end token; start and pad ids are skipped."""
    out = []
    for i in ids:
        i = int(i)
        if i == END:
            break
        if i not in (PAD, START):
            out.append(tokens[i])
    return "".join(out)


def load(cfg) -> Pools:
    lowercase = check_bool(cfg.lowercase, "data.lowercase")
    max_length = check_number(cfg.max_length, "data.max_length", low=1, integer=True)
    min_count = check_number(cfg.min_count, "data.min_count", low=1, integer=True)
    if cfg.path is not None:
        path = Path(str(cfg.path))
        every = read_items(path, lowercase)
        items = [item for item in every if len(item) <= max_length]
        if not items:
            why = f"its shortest has {min(map(len, every))}" if every else "it has no line that is not blank"
            raise UserError(f"{path} has no item of at most data.max_length={max_length} characters ({why})")
        from dltool.data.sources import describe

        sources = {"path": describe(path)}
    else:
        n = check_number(cfg.n, "data.n", low=20, integer=True)
        if cfg.kind not in KINDS:
            raise UserError(f"unknown data.kind '{cfg.kind}'; choose from: {choices(KINDS)}")
        locales = [str(loc) for loc in (cfg.locales or [])]
        from faker.config import AVAILABLE_LOCALES

        unknown = [loc for loc in locales if loc not in AVAILABLE_LOCALES]
        if not locales or unknown:
            raise UserError(f"unknown data.locales {choices(unknown) or '(none given)'}; Faker has e.g. en_US, "
                            f"de_DE, es_ES, fr_FR, it_IT, sv_SE ({len(AVAILABLE_LOCALES)} in all)")
        seed = check_number(cfg.seed, "data.seed", low=0, integer=True)
        items = generate(n, locales, cfg.kind, seed, lowercase, max_length)
        sources = {}
    tokens = vocabulary(items, min_count)
    ids = encode(items, tokens, max_length)
    info = {"tokens": dict(zip(("pad", "start", "end", "unk"), range(len(SPECIALS)))), "max_length": max_length}
    return Pools(ids[:, :-1], ids[:, 1:], tokens, sources=sources, stratify=False, tokens=True, info=info)
