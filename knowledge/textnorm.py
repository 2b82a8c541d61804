"""Text normalisation for clause search: folding, tokens, stemming, transliteration.

Everything here is pure and fast. The tables (stop words, Kazakh endings, Latin→Cyrillic
transliteration) live in ``knowledge/data/*.yaml``; this module only applies them.

Folding makes the ways students type one word compare equal: lower case, ``ё→е``, ``й→и``
and the Kazakh letters mapped to their Russian look-alikes (``ә→а``, ``қ→к``, ``ө→о``,
``ү→у``, ``ұ→у``, ``і→и``, ``ң→н``, ``ғ→г``, ``һ→х``), so «кашыктан окуга» and
«қашықтан оқуға» give the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import snowballstemmer
import yaml

from knowledge.languages import LANGUAGES

DATA_DIR = Path(__file__).resolve().parent / "data"
LANGS = LANGUAGES

KK_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# The one folding table (search, the question matcher and the programme catalog all use it):
# Kazakh letters onto their Russian look-alikes, so "денсаулык" finds "денсаулық" and a student
# without a Kazakh keyboard is still understood; ё, э and й onto е, е and и.
FOLD_TABLE = str.maketrans(
    {
        "ё": "е",
        "э": "е",
        "й": "и",
        "ә": "а",
        "қ": "к",
        "ө": "о",
        "ү": "у",
        "ұ": "у",
        "і": "и",
        "ң": "н",
        "ғ": "г",
        "һ": "х",
        # Latin i without a dot and Latin look-alikes inside Cyrillic words are folded by
        # _fix_mixed_script, not here.
    }
)
# Latin letters that look like Cyrillic ones: "oкy" typed with a Latin o/y in a Cyrillic word.
_LAT_TO_CYR = str.maketrans(
    {
        "a": "а",
        "c": "с",
        "e": "е",
        "o": "о",
        "p": "р",
        "x": "х",
        "y": "у",
        "k": "к",
        "m": "м",
        "t": "т",
        "h": "н",
        "b": "в",
    }
)
_CYR_TO_LAT = str.maketrans(
    {
        "а": "a",
        "с": "c",
        "е": "e",
        "о": "o",
        "р": "p",
        "х": "x",
        "у": "y",
        "к": "k",
        "м": "m",
        "т": "t",
        "н": "h",
        "в": "b",
    }
)
# "%" is a word of its own: "20 %" in a clause and "сколько процентов" in a question meet on it
# ǵ and ń are letters of the 2021 Kazakh Latin alphabet ("oqýǵa", "mamandyń"); outside à-ÿ
_TOKEN_RE = re.compile(r"%|[0-9a-zà-öø-ÿāūğışçñǵń'а-яёәғқңөұүһі]+", re.IGNORECASE)
_CYR_RE = re.compile(r"[а-яёәғқңөұүһі]", re.IGNORECASE)
_LAT_RE = re.compile(r"[a-zà-öø-ÿāūğışçñǵń]", re.IGNORECASE)


@lru_cache(maxsize=16)
def load_data(name: str) -> dict[str, Any]:
    """A data file under ``knowledge/data/``, parsed once per process (treat it as read-only)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader) or {}


# FOLD_TABLE as (letter, replacement) pairs. No replacement is itself a folded letter, so
# replacing them one after the other gives what the table's one translation gives.
_FOLD_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (chr(code), str(repl)) for code, repl in FOLD_TABLE.items()
)
assert not {src for src, _r in _FOLD_PAIRS} & {r for _s, r in _FOLD_PAIRS}


def fold(text: str) -> str:
    """Lower-case and fold Kazakh letters, ``ё`` and ``й`` to their Russian look-alikes.

    ``text.lower().translate(FOLD_TABLE)``, computed as a few ``str.replace`` calls (each a C
    scan) for the letters present: ``translate`` with a dict looks each character up and cost
    ~4 µs a question, this ~0.6 µs; the answer path folds every question several times and
    each of its words (issue 18). An ASCII text has none of the folded letters."""
    text = text.lower()
    if text.isascii():
        return text
    for src, repl in _FOLD_PAIRS:
        if src in text:
            text = text.replace(src, repl)
    return text


def script_of(word: str) -> str:
    """``"cyr"``, ``"lat"``, ``"num"`` or ``"mixed"`` for one token."""
    if word.isascii():
        return "num" if word.isdigit() else "lat"
    lat = bool(_LAT_RE.search(word))
    cyr = bool(_CYR_RE.search(word))
    if cyr and lat:
        return "mixed"
    if cyr:
        return "cyr"
    return "lat" if lat else "num"


def _fix_mixed_script(word: str) -> str:
    """A token mixing scripts is mostly one script with look-alikes of the other typed in."""
    cyr = len(_CYR_RE.findall(word))
    lat = len(_LAT_RE.findall(word))
    return word.translate(_LAT_TO_CYR) if cyr >= lat else word.translate(_CYR_TO_LAT)


class Token(NamedTuple):
    """One word of the input: as typed, folded, its script and whether it was in capitals. A
    named tuple: the answer path keys its per-word memos by tokens, and a tuple hashes and
    compares in C (the same hash as the frozen dataclass it was: that of the field tuple)."""

    raw: str
    norm: str
    script: str
    upper: bool


_new_tuple = tuple.__new__
_PERCENT = Token(raw="%", norm="%", script="num", upper=False)


def tokenize(text: str) -> list[Token]:
    """Split into word tokens; hyphenated words become separate tokens."""
    text = unicodedata.normalize("NFKC", text)
    out: list[Token] = []
    # findall: the pattern has no groups, so each item is the match's text (no match objects);
    # each Token made by tuple.__new__, the same tuple without NamedTuple's keyword __new__
    # (issue 18: the answer path tokenises every question)
    for found in _TOKEN_RE.findall(text):
        raw = found.strip("'")
        if not raw:
            continue
        if raw == "%":
            out.append(_PERCENT)
            continue
        script = script_of(raw)
        word = raw
        if script == "mixed":
            word = _fix_mixed_script(raw)
            script = script_of(word)
        upper = 2 <= len(raw) <= 5 and raw.isupper()
        out.append(_new_tuple(Token, (raw, fold(word), script, upper)))
    return out


def detect_script(text: str) -> str:
    """The dominant script of a text: ``"cyr"``, ``"lat"`` or ``"num"``."""
    cyr = len(_CYR_RE.findall(text))
    lat = len(_LAT_RE.findall(text))
    if not cyr and not lat:
        return "num"
    return "cyr" if cyr >= lat else "lat"


def has_kazakh_letters(text: str) -> bool:
    return any(ch in KK_LETTERS for ch in text)


# --- stop words ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def stopwords() -> dict[str, frozenset[str]]:
    raw = load_data("stopwords.yaml")
    out: dict[str, frozenset[str]] = {}
    for lang in LANGS:
        words: set[str] = set()
        for item in raw.get(lang, []):
            words.update(t.norm for t in tokenize(str(item)))
        # Latin-typed Russian mostly drops the soft and hard signs ("skolko", "obyasnite"), so
        # its transliteration must meet «сколько», «объясните» without them
        words.update({w.replace("ь", "").replace("ъ", "") for w in words} - {""})
        out[lang] = frozenset(words)
    return out


# --- transliteration ----------------------------------------------------------------------


def _longest_first(pair: tuple[str, str]) -> int:
    return -len(pair[0])


@lru_cache(maxsize=1)
def _translit_tables() -> dict[str, tuple[tuple[str, str], ...]]:
    raw = load_data("translit.yaml")
    return {
        lang: tuple(sorted(((str(k), str(v)) for k, v in table.items()), key=_longest_first))
        for lang, table in raw.items()
    }


@lru_cache(maxsize=20_000)  # issue 18: a word's reading is asked for again and again
def transliterate(word: str, lang: str) -> str:
    """Latin → Cyrillic for ``lang`` (``kk`` or ``ru``), folded."""
    table = _translit_tables().get(lang)
    if not table:
        return word
    word = word.lower()
    out: list[str] = []
    i = 0
    while i < len(word):
        for src, dst in table:
            if word.startswith(src, i):
                out.append(dst)
                i += len(src)
                break
        else:
            out.append(word[i])
            i += 1
    return fold("".join(out))


# --- stemming ------------------------------------------------------------------------------


class KazakhStemmer:
    """Greedy ending stripper for folded Kazakh words (see ``data/kk_suffixes.yaml``)."""

    def __init__(
        self,
        suffixes: list[str],
        min_stem: int = 3,
        max_rounds: int = 3,
        *,
        short_suffixes: list[str] | None = None,
        min_short_stem: int = 2,
        devoice: dict[str, str] | None = None,
    ) -> None:
        self.min_stem = min_stem
        self.max_rounds = max_rounds
        self.min_short_stem = min_short_stem
        self.short = frozenset(fold(s) for s in short_suffixes or ())
        self.devoice = {fold(k): fold(v) for k, v in (devoice or {}).items()}
        # by last letter, longest first: a word is only compared with endings it could have
        self._by_last: dict[str, list[str]] = {}
        for suffix in sorted({fold(s) for s in suffixes if s}, key=len, reverse=True):
            self._by_last.setdefault(suffix[-1], []).append(suffix)

    def _strip_once(self, word: str) -> str | None:
        for suffix in self._by_last.get(word[-1:], ()):
            if not word.endswith(suffix):
                continue
            keep = len(word) - len(suffix)
            if keep >= self.min_stem or (suffix in self.short and keep >= self.min_short_stem):
                return word[:keep]
        return None

    def stem(self, word: str) -> str:
        for _ in range(self.max_rounds):
            stripped = self._strip_once(word)
            if stripped is None:
                break
            word = stripped
            last = self.devoice.get(word[-1:])
            if last and len(word) >= 5:  # short stems would collide: бүгін → бүг ≠ бүк(іл)
                word = word[:-1] + last
        return word


class Stemmers:
    """One stemmer per language; input and output are folded words. Use ``stemmers()``."""

    def __init__(self) -> None:
        raw = load_data("kk_suffixes.yaml")
        self._kk = KazakhStemmer(
            [str(s) for s in raw.get("suffixes", [])],
            int(raw.get("min_stem", 3)),
            int(raw.get("max_rounds", 3)),
            short_suffixes=[str(s) for s in raw.get("short_suffixes", [])],
            min_short_stem=int(raw.get("min_short_stem", 2)),
            devoice={str(k): str(v) for k, v in (raw.get("devoice") or {}).items()},
        )
        self._ru = snowballstemmer.stemmer("russian")
        self._en = snowballstemmer.stemmer("english")
        self._cache: dict[tuple[str, str], str] = {}

    def stem(self, word: str, lang: str) -> str:
        key = (word, lang)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if word.isdigit() or len(word) <= 2:
            result = word
        elif lang == "kk":
            result = self._kk.stem(word)
        elif lang == "ru":
            # the Russian stemmer knows й; folded й→и only changes a few endings
            result = fold(self._ru.stemWord(word))
        else:
            result = self._en.stemWord(word)
        if len(self._cache) < 200_000:
            self._cache[key] = result
        return result


@lru_cache(maxsize=1)
def stemmers() -> Stemmers:
    """The process-wide stemmers, whose cache of stems is shared by every index."""
    return Stemmers()
