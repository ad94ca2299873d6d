"""Dates as people write them, each paired with its ISO 8601 form, for sequence-to-sequence translation (course 5's
"Neural Machine Translation" assignment: "3rd of March 2002", "Tuesday, January 23, 2018" or "23.01.18" -> "2018-01-23").

As the course builds them: a date is drawn (here uniformly from ``start`` to ``end`` with numpy's generator seeded by
``data.seed``), written in a format chosen at random, by Babel's ``format_date`` in one of ``data.locales`` (its
``short`` / ``medium`` / ``long`` / ``full`` forms and a few patterns of the course's list, such as ``d MMMM y`` and
``dd.MM.yy``), or, for English, with an ordinal day ("3rd of March 2002", "March 3rd, 2002"); lowercased (the
course's) if ``data.lowercase``. The target is ``date.isoformat()``. Two-digit years name one date only while the
range spans at most 100 years (the default, 1950-2049, reads "18" as 2018 and "72" as 1972), and no locale here
writes numbers month-first but en_US, whose all-number short form ("1/23/18") no other form shares (see
``formats``): every source names one date.

Encoding: one id space for both sides (the four special tokens ``<pad>``, ``<s>``, ``</s>``, ``<unk>``, then every
character of the sources and targets, sorted: ``info["classes"]``, index = id), with two vocabularies in it:
``info["source_vocabulary"]`` (what an input may hold; any other character becomes ``<unk>``) and
``info["target_vocabulary"]`` (what a translation may hold: the digits and "-"; the task scores only those and
``</s>``). ``x`` is a source's ids padded with ``<pad>`` to ``max_length``; ``y`` its target's ids and ``</s>``
(11 ids for an ISO date), padded to the longest target.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from dltool.data import Pools
from dltool.data.names import END, PAD, SPECIALS, UNK
from dltool.errors import UserError, check_bool, check_number, choices

# Babel's named forms and patterns of the course's list (its 'YYY', a week-based year, written here as 'y')
PATTERNS = ("short", "medium", "long", "full", "full", "d MMM y", "d MMMM y", "dd MMM y", "d MMMM, y", "dd.MM.yy")
ENGLISH = ("MMMM d y", "MMMM d, y", "dd, MMM y", "ordinal of", "month ordinal")  # en_* locales only
ORDINAL = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def ordinal(day: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, 31st."""
    return f"{day}{ORDINAL.get(day, 'th')}"


def write(date: dt.date, pattern: str, locale: str) -> str:
    """``date`` as ``pattern`` (a Babel form or pattern, or an ordinal one) has it in ``locale``."""
    from babel.dates import format_date

    if pattern == "ordinal of":
        return f"{ordinal(date.day)} of {format_date(date, 'MMMM y', locale=locale)}"
    if pattern == "month ordinal":
        return f"{format_date(date, 'MMMM', locale=locale)} {ordinal(date.day)}, {date.year}"
    return format_date(date, pattern, locale=locale)


def formats(locale: str) -> tuple[str, ...]:
    """The formats ``locale`` writes dates in. A short form of slashes and a two-digit year ("23/1/18", es_ES) is
    left out but for en_US: beside en_US's month-first "1/23/18" it would make "1/2/18" two dates."""
    from babel.dates import get_date_format

    short = get_date_format("short", locale=locale).pattern
    keep = locale == "en_US" or not ("/" in short and "yyyy" not in short and short.count("y") == 2)
    return tuple(p for p in PATTERNS if keep or p != "short") + (ENGLISH if locale.startswith("en") else ())


def parse_day(text, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise UserError(f"{key} must be a date as YYYY-MM-DD, got {text!r}") from None


def generate(n: int, locales: list[str], seed: int, start: dt.date, end: dt.date,
             lowercase: bool = True) -> list[tuple[str, str]]:
    """``n`` (human-readable, ISO) pairs, drawn with numpy's generator seeded by ``seed``: a day uniformly in
    [start, end], a locale, then one of its formats."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (end - start).days + 1, size=n)
    where = rng.integers(0, len(locales), size=n)
    pick = rng.random(n)
    pairs = []
    for offset, k, u in zip(days.tolist(), where.tolist(), pick.tolist()):
        date, locale = start + dt.timedelta(days=offset), locales[k]
        options = formats(locale)
        human = write(date, options[int(u * len(options))], locale).strip()
        pairs.append((human.lower() if lowercase else human, date.isoformat()))
    return pairs


def vocabularies(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
    """Every token (the specials, then every character of either side, sorted), the source's characters and the
    target's."""
    source = sorted({c for human, _ in pairs for c in human})
    target = sorted({c for _, iso in pairs for c in iso})
    return [*SPECIALS, *sorted(set(source) | set(target))], source, target


def encode_source(texts: list[str], tokens: list[str], source: list[str], length: int) -> np.ndarray:
    """(len(texts), length) ids of each text's characters (those outside ``source`` as ``<unk>``), then pads."""
    ids = {c: tokens.index(c) for c in source}
    out = np.full((len(texts), length), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        out[row, :len(text)] = [ids.get(c, UNK) for c in text]
    return out


def encode_target(texts: list[str], tokens: list[str], length: int) -> np.ndarray:
    """(len(texts), length) ids: each text's characters, ``</s>``, pads."""
    ids = {t: i for i, t in enumerate(tokens)}
    out = np.full((len(texts), length), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        out[row, :len(text) + 1] = [*(ids[c] for c in text), END]
    return out


def load(cfg) -> Pools:
    from babel import Locale, UnknownLocaleError

    n = check_number(cfg.n, "data.n", low=20, integer=True)
    seed = check_number(cfg.seed, "data.seed", low=0, integer=True)
    lowercase = check_bool(cfg.lowercase, "data.lowercase")
    max_length = check_number(cfg.max_length, "data.max_length", low=1, integer=True)
    locales = [str(loc) for loc in (cfg.locales or [])]
    unknown = []
    for loc in locales:
        try:
            Locale.parse(loc)
        except (UnknownLocaleError, ValueError):
            unknown.append(loc)
    if not locales or unknown:
        raise UserError(f"unknown data.locales {choices(unknown) or '(none given)'}; Babel has e.g. en_US, en_GB, "
                        f"de_DE, fr_FR, es_ES, it_IT")
    start, end = parse_day(cfg.start, "data.start"), parse_day(cfg.end, "data.end")
    if end < start:
        raise UserError(f"data.end ({end}) is before data.start ({start})")
    pairs = generate(n, locales, seed, start, end, lowercase)
    longest = max(len(human) for human, _ in pairs)
    if longest > max_length:
        raise UserError(f"a generated date has {longest} characters, more than data.max_length={max_length}: "
                        f"raise data.max_length")
    tokens, source, target = vocabularies(pairs)
    x = encode_source([h for h, _ in pairs], tokens, source, max_length)
    y = encode_target([iso for _, iso in pairs], tokens, max(len(iso) for _, iso in pairs) + 1)
    info = {"tokens": dict(zip(("pad", "start", "end", "unk"), range(len(SPECIALS)))), "max_length": max_length,
            "source_vocabulary": source, "target_vocabulary": target, "target_length": int(y.shape[1]), "lowercase": lowercase}
    return Pools(x, y, tokens, stratify=False, tokens=True, info=info)
