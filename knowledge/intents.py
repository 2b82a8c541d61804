"""Recognise the common question types before searching (``data/intents.yaml``).

``detect_intent(question)`` returns an ``Intent`` (``apply``, ``eligibility``, ``difference``,
``work``) or None, with the ground a question names (``health``, ``disability``,
``competition``, ``mobility``, ``double_degree``) and whether it asks about dates. Patterns run
over the folded question and over its Cyrillic reading when it is typed in Latin; they require
the question to be about distance learning or the online form at all, so "what documents do I
need for admission" is not the transfer question.

The answer templates (texts in the gettext catalogs) and the clauses each intent cites live in
``bot.services.answers``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from knowledge.textnorm import fold, load_data, transliterate

_LATIN_WORD = re.compile(r"[a-z]+")
_DISTANCE_WORDS = re.compile(r"дистан|кашык|удален|remote|distance")
# Grounds whose questions are about caps and emergencies rather than how to get a transfer.
SEARCHED_GROUNDS = frozenset({"mobility", "double_degree"})


@dataclass(frozen=True, slots=True)
class Intent:
    name: str  # apply | eligibility | difference | work
    ground: str | None = None  # the ground of a transfer the question names, if any
    applicant: bool = False  # work: the person is not yet enrolled
    switching: bool = False  # work: a current student asks to switch
    dates: bool = False  # the question asks "when"
    online: bool = False  # the question names the online form


@dataclass(frozen=True, slots=True)
class _Patterns:
    distance: re.Pattern[str]
    abbreviations: re.Pattern[str]
    online: re.Pattern[str]
    intents: dict[str, list[re.Pattern[str]]]
    grounds: dict[str, re.Pattern[str]]


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    raw = load_data("intents.yaml")
    return _Patterns(
        distance=re.compile(raw["distance"]),
        abbreviations=re.compile(raw["abbreviations"]),
        online=re.compile(raw["online"]),
        intents={
            name: [re.compile(p) for p in patterns]
            for name, patterns in (raw.get("intents") or {}).items()
        },
        grounds={name: re.compile(p) for name, p in (raw.get("grounds") or {}).items()},
    )


def readable(question: str) -> str:
    """The question folded, then its Latin words read as Kazakh and as Russian."""
    text = fold(unicodedata.normalize("NFKC", question))
    latin = _LATIN_WORD.findall(text)
    if not latin:
        return text
    readings = [text]
    for lang in ("kk", "ru"):
        readings.append(_read_latin(text, lang))
    return " | ".join(readings)


def _read_latin(text: str, lang: str) -> str:
    def read(match: re.Match[str]) -> str:
        return transliterate(match.group(0), lang)

    return _LATIN_WORD.sub(read, text)


def ground_of(question: str) -> str | None:
    text = readable(question)
    return next((g for g, p in _patterns().grounds.items() if p.search(text)), None)


def detect_intent(question: str) -> Intent | None:
    p = _patterns()
    text = readable(question)
    abbreviated = bool(p.abbreviations.search(question))
    if not (p.distance.search(text) or abbreviated):
        return None

    def has(name: str) -> bool:
        return any(pattern.search(text) for pattern in p.intents.get(name, ()))

    ground = next((g for g, pat in p.grounds.items() if pat.search(text)), None)
    distance_words = abbreviated or bool(_DISTANCE_WORDS.search(text))
    # "dates" is looked for only when an intent is returned and "online" only for the
    # difference question (issue 18.1: each is a pattern search over the question)
    if has("difference"):
        online = bool(p.online.search(text))
        if (online or "заоч" in text or "сырттаи" in text) and (
            distance_words or "заоч" in text or "сырттаи" in text or "correspondence" in text
        ):
            return Intent("difference", dates=has("dates"), online=online)
    if has("work") and ground is None:
        dates = has("dates")
        return Intent("work", applicant=has("applicant"), switching=has("switching"), dates=dates)
    if not distance_words:
        return None  # applying or eligibility "online" is the online form: the search's work
    if ground in SEARCHED_GROUNDS:
        return None  # mobility, double degree: their own clauses (5.4.13–5.4.15) answer
    if has("apply"):
        return Intent("apply", ground=ground, dates=has("dates"))
    if has("eligibility"):
        return Intent("eligibility", ground=ground, dates=has("dates"))
    return None


__all__ = ["Intent", "detect_intent", "ground_of", "readable"]
