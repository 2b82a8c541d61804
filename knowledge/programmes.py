"""Directions of training (6B…, 7M…) and what Regulation No. 066 allows for each of them.

Pure Python (no aiogram). The data live in ``knowledge/data/programmes.yaml``; see its header for
the source and the meaning of each field. Two rules depend on the direction:

* the online-learning form is not allowed for the directions of Appendix 1 (clause 6.2);
* the share of disciplines that may move to distance learning: none for pedagogical programmes
  except the legal exceptions (5.4.6), 20 % for law (5.4.5), 20 % for music art and
  choreography (5.4.5) and 50 % for other arts programmes and every other direction (5.4.7).

``ProgrammeCatalog.load()`` reads the file once; ``catalog.lookup(query)`` takes a code at any
precision (``6B06``, ``6B061``, ``6в06102``) or a name, alias or typo in kk/ru/en and returns a
``LookupResult``. ``find_programme_mentions(text)`` pulls code-like tokens out of a sentence and
``catalog.find_name_mentions(text)`` finds direction names in it, so the question answering can
route "Can I study public health online?" here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import yaml
from rapidfuzz import fuzz, process

from knowledge.languages import LANGUAGES
from knowledge.textnorm import fold, transliterate

LANGS = LANGUAGES
DATA_FILE = Path(__file__).resolve().parent / "data" / "programmes.yaml"

# The clause IDs this module cites, in the regulation's order (a stable order for answers).
CLAUSE_ORDER: tuple[str, ...] = ("5.4.5", "5.4.6", "5.4.7", "6.2", "appendix-1")
ONLINE_CLAUSES: tuple[str, ...] = ("6.2", "appendix-1")

# How close a fuzzy name match must be, and how close to the best one a rival must be to make
# the answer ambiguous.
NAME_CUTOFF = 82.0
MENTION_CUTOFF = 88.0

# Words beside a direction name that show it is one: "құқық мамандығы", "специальность право".
_PROGRAMME_MARKERS = (
    "мамандык",
    "мамандыг",
    "багыт",
    "специальн",
    "направлени",
    "факультет",
    "major",
    "degree",
    "programme",
    "program",
    "бакалавр",
    "магистр",
)
_RU_ENDINGS = tuple(
    sorted(
        {
            "ой",
            "ей",
            "ого",
            "его",
            "ому",
            "ему",
            "ом",
            "ем",
            "ая",
            "яя",
            "ую",
            "юю",
            "ое",
            "ее",
            "ые",
            "ие",
            "ых",
            "их",
            "ым",
            "им",
            "ыми",
            "ими",
            "ии",
            "ию",
            "ия",
            "ам",
            "ий",
            "ый",
            "ою",
            "ею",
            "ям",
            "ами",
            "ями",
            "ах",
            "ях",
            "ов",
            "ев",
            "а",
            "я",
            "у",
            "ю",
            "е",
            "и",
            "ы",
        },
        key=len,
        reverse=True,
    )
)


# A profession named instead of the direction, when the sentence says the student will become
# one («на учителя», «мұғалім болғым келеді», "become a teacher"): a bare "teacher" is more
# often the lecturer of the course, which the regulation calls оқытушы/преподаватель.
_ROLES = {"учител": "педагогика", "мугалим": "педагогика", "teacher": "педагогика"}
_ROLE_STEMS = tuple(_ROLES)
_ROLE_BEFORE = frozenset(
    {"на", "стать", "буду", "будущии", "будущая", "будущие", "become", "becoming", "future", "be"}
)
_ROLE_AFTER = ("бол", "training")


def _role_direction(word: str, norm: list[str], i: int) -> str | None:
    if not word.startswith(_ROLE_STEMS):
        return None  # the common case, in one C-level test (issue 18.1)
    target = next((t for stem, t in _ROLES.items() if word.startswith(stem)), None)
    if target is None:
        return None
    before = {w for w in norm[max(0, i - 2) : i]}
    after = norm[i + 1] if i + 1 < len(norm) else ""
    if before & _ROLE_BEFORE or (after and after.startswith(_ROLE_AFTER)):
        return target
    return None


def _word_stems(word: str) -> set[str]:
    """Stems one normalised word may share with a direction name in another form."""
    out = {word}
    for ending in _RU_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 5:
            stem = word[: -len(ending)]
            out.add(stem)
            if stem.endswith("ическ"):
                out.add(stem[:-5] + "ик")  # педагогическ -> педагогик(а)
            if stem.endswith("альн"):
                out.add(stem[:-4])  # музыкальн -> музык(а)
            break
    for ending in ("лык", "лик", "дык", "дик", "тык", "тик"):
        if word.endswith(ending) and len(word) - 3 >= 5:
            out.add(word[:-3])  # педагогикалык -> педагогика
    return {s for s in out if len(s) >= 5}


@functools.lru_cache(maxsize=1024)
def _word_stem_order(word: str) -> tuple[str, ...]:
    """``_word_stems(word)`` in the order iterating it gives, kept per word (a question's
    words repeat; at most 1,024 words, about 0.3 MB: issue 18.3's memory margin is small)."""
    return tuple(_word_stems(word))


AMBIGUITY_MARGIN = 3.0
MAX_QUERY_CHARS = 200
SENTENCE_WORDS = 4  # from this many words on, a query is read as a sentence, not a name


class Category(StrEnum):
    PEDAGOGICAL = "pedagogical"
    LAW = "law"
    ARTS = "arts"
    GENERAL = "general"


class DLCap(StrEnum):
    """The distance-learning cap: the share of disciplines that may be taught at a distance."""

    NONE = "none"  # not allowed, except the cases of 5.4.6
    TWENTY = "20"
    FIFTY = "50"
    ASK = "ask"  # 6B021/7M021: depends on whether the programme is music art or choreography


class Reason(StrEnum):
    """Why the result needs a clarifying question (or has no answer)."""

    EMPTY_QUERY = "empty_query"
    UNKNOWN_CODE = "unknown_code"
    NOT_FOUND = "not_found"
    AMBIGUOUS_NAME = "ambiguous_name"
    FIELD_CODE = "field_code"
    ARTS_PROGRAMME = "arts_programme"


_CAP_BY_CATEGORY: dict[Category, DLCap] = {
    Category.PEDAGOGICAL: DLCap.NONE,
    Category.LAW: DLCap.TWENTY,
    Category.ARTS: DLCap.ASK,
    Category.GENERAL: DLCap.FIFTY,
}

_CAP_CLAUSES: dict[tuple[Category, DLCap], tuple[str, ...]] = {
    (Category.PEDAGOGICAL, DLCap.NONE): ("5.4.6",),
    (Category.LAW, DLCap.TWENTY): ("5.4.5",),
    (Category.ARTS, DLCap.ASK): ("5.4.5", "5.4.7"),
    (Category.ARTS, DLCap.TWENTY): ("5.4.5",),
    (Category.ARTS, DLCap.FIFTY): ("5.4.7",),
    (Category.GENERAL, DLCap.FIFTY): ("5.4.7",),
}


def order_clauses(ids: Iterable[str]) -> tuple[str, ...]:
    """Deduplicate clause IDs and put them in the regulation's order."""
    unique = set(ids)
    known = [c for c in CLAUSE_ORDER if c in unique]
    return tuple(known + sorted(unique.difference(CLAUSE_ORDER)))


# --- normalisation ---------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """Case-, script- and punctuation-insensitive form used for name matching (Kazakh letters
    folded by :func:`knowledge.textnorm.fold`)."""
    text = fold(unicodedata.normalize("NFKC", text).casefold())
    return " ".join(_NON_WORD.sub(" ", text).split())


@functools.lru_cache(maxsize=1024)
def _normalise_word(word: str) -> str:
    """``normalise`` of one word of a question, kept per word (at most 1,024, about 0.3 MB)."""
    return normalise(word)


# Latin and Cyrillic look-alikes of the level letters (В/в, М/м, Д/д, Р/р).
_LEVEL_LETTER = str.maketrans(
    {
        "В": "B",
        "в": "B",
        "b": "B",
        "М": "M",
        "м": "M",
        "m": "M",
        "Д": "D",
        "д": "D",
        "d": "D",
        "Р": "R",
        "р": "R",
        "r": "R",
    }
)
_CODE_IN_TEXT = re.compile(r"(?<![\w])([678])[-‐–]?([BbВвMmМмDdДд])\s?[-‐–]?\s?(\d{2,7})(?!\d)")
_CODE_QUERY = re.compile(r"^([6-8])\s*[-‐–]?\s*([A-Za-zА-Яа-я])\s*[-‐–.]?\s*(\d{1,9})$")
_PAIRS = {"6": "B", "7": "M", "8": "D"}


def _canonical_code(digit: str, letter: str, digits: str) -> str:
    return f"{digit}{letter.translate(_LEVEL_LETTER).upper()}{digits}"


def find_programme_mentions(text: str) -> list[str]:
    """Code-like tokens in ``text`` (6B…, 7M…, 8D…, Latin or Cyrillic letter), canonical, in order.

    ``"6в06102 бағдарламасы мен 7M071"`` → ``["6B06102", "7M071"]``.
    """
    found: list[str] = []
    for match in _CODE_IN_TEXT.finditer(text or ""):
        code = _canonical_code(*match.groups())
        if code not in found:
            found.append(code)
    return found


# --- data ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A broad field of education, e.g. 6B01 "Педагогические науки"."""

    code: str
    level: str
    name: Mapping[str, str]

    def name_in(self, lang: str) -> str:
        return self.name.get(lang) or self.name["kk"]


@dataclass(frozen=True, slots=True)
class Direction:
    """A direction of training, e.g. 6B061 "Information and communication technologies"."""

    code: str
    level: Literal["bachelor", "master", "doctoral"]
    field: str
    category: Category
    appendix_1: bool
    name: Mapping[str, str]
    aliases: Mapping[str, tuple[str, ...]]
    appendix_1_name_kk: str | None = None
    appendix_1_note: Mapping[str, str] | None = None
    # normalised alias → the cap it implies (arts: "music" → 20, "design" → 50)
    cap_by_alias: Mapping[str, DLCap] = dc_field(default_factory=dict)

    @property
    def suffix(self) -> str:
        """The level-independent part: 6B061 and 7M061 share "061"."""
        return self.code[2:]

    def name_in(self, lang: str) -> str:
        return self.name.get(lang) or self.name["kk"]

    def note_in(self, lang: str) -> str | None:
        if not self.appendix_1_note:
            return None
        return self.appendix_1_note.get(lang) or self.appendix_1_note["kk"]

    def verdict(self, cap_hint: DLCap | None = None) -> Verdict:
        cap = _CAP_BY_CATEGORY[self.category]
        if self.category is Category.ARTS and cap_hint in (DLCap.TWENTY, DLCap.FIFTY):
            cap = cap_hint
        return Verdict(
            online_allowed=not self.appendix_1,
            dl_cap=cap,
            clauses=order_clauses((*_CAP_CLAUSES[(self.category, cap)], *ONLINE_CLAUSES)),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    online_allowed: bool
    dl_cap: DLCap
    clauses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    direction: Direction
    verdict: Verdict
    score: float
    matched: str  # the code, name or alias that matched

    def to_dict(self) -> dict[str, Any]:
        d = self.direction
        return {
            "code": d.code,
            "level": d.level,
            "field": d.field,
            "category": str(d.category),
            "appendix_1": d.appendix_1,
            "name": dict(d.name),
            "appendix_1_name_kk": d.appendix_1_name_kk,
            "appendix_1_note": dict(d.appendix_1_note) if d.appendix_1_note else None,
            "online_allowed": self.verdict.online_allowed,
            "dl_cap": str(self.verdict.dl_cap),
            "clauses": list(self.verdict.clauses),
            "score": round(self.score, 1),
            "matched": self.matched,
        }


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The answer to one query; ``online_allowed``/``dl_cap`` are set when all candidates agree."""

    query: str
    kind: Literal["code", "field", "name", "none"]
    candidates: tuple[Candidate, ...]
    online_allowed: bool | None
    dl_cap: DLCap | None
    needs_clarification: bool
    reason: Reason | None
    clauses: tuple[str, ...]
    field: Field | None = None
    code: str | None = None  # the canonical code the query gave, if any

    @property
    def found(self) -> bool:
        return bool(self.candidates)

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(c.direction for c in self.candidates)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.direction.code for c in self.candidates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "kind": self.kind,
            "code": self.code,
            "found": self.found,
            "online_allowed": self.online_allowed,
            "dl_cap": str(self.dl_cap) if self.dl_cap is not None else None,
            "needs_clarification": self.needs_clarification,
            "reason": str(self.reason) if self.reason is not None else None,
            "clauses": list(self.clauses),
            "field": (
                {"code": self.field.code, "level": self.field.level, "name": dict(self.field.name)}
                if self.field
                else None
            ),
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True, slots=True)
class NameMention:
    """A direction name found inside free text; ``query`` can be passed to ``lookup``."""

    query: str
    text: str
    codes: tuple[str, ...]
    score: float


@dataclass(frozen=True, slots=True)
class _Entry:
    direction: int  # index into ProgrammeCatalog.directions
    cap_hint: DLCap | None
    is_field: bool


def _as_str_tuple(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or ()))


class ProgrammeCatalog:
    """All directions with an index of their names and aliases; build it once, share it."""

    def __init__(
        self,
        fields: Iterable[Field],
        directions: Iterable[Direction],
        *,
        mention_exclude: Iterable[str] = (),
        kk_case_suffixes: Iterable[str] = (),
        level_words: Mapping[str, Iterable[str]] | None = None,
        teacher_training: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields: dict[str, Field] = {f.code: f for f in fields}
        self.directions: tuple[Direction, ...] = tuple(directions)
        self.by_code: dict[str, Direction] = {d.code: d for d in self.directions}
        self._index: dict[str, list[_Entry]] = {}
        self._short_aliases: set[str] = set()  # original spelling of aliases of ≤ 3 letters
        for i, d in enumerate(self.directions):
            names = [*d.name.values(), *(a for v in d.aliases.values() for a in v)]
            if d.appendix_1_name_kk:
                names.append(d.appendix_1_name_kk)
            for raw in names:
                key = normalise(raw)
                if not key:
                    continue
                if len(key) <= 3:
                    self._short_aliases.add(raw.strip())
                self._add(key, _Entry(i, d.cap_by_alias.get(key), is_field=False))
            fld = self.fields.get(d.field)
            if fld:
                for raw in fld.name.values():
                    self._add(normalise(raw), _Entry(i, None, is_field=True))
        self._choices: list[str] = list(self._index)
        self._mention_exclude = {normalise(w) for w in mention_exclude}
        self._suffixes = sorted(
            {normalise(s) for s in kk_case_suffixes if s}, key=len, reverse=True
        )
        # the same, grouped by length (longest first): a word ends with at most one of a length
        self._suffixes_by_length: list[tuple[int, frozenset[str]]] = [
            (size, frozenset(x for x in self._suffixes if len(x) == size))
            for size in sorted({len(x) for x in self._suffixes if x}, reverse=True)
        ]
        self._level_words: dict[str, str] = {}
        for level, words in (level_words or {}).items():
            for w in words:
                self._level_words[normalise(w)] = level
        self._stem_index: dict[str, list[str]] = {}
        for key in self._choices:
            if " " in key or len(key) < 5:
                continue
            for stem in _word_stems(key) | {key[:-1]}:
                if len(stem) >= 5:
                    bucket = self._stem_index.setdefault(stem, [])
                    if key not in bucket:
                        bucket.append(key)
        self._max_ngram = min(
            6, max(len(k.split()) for k in self._choices) if self._choices else 1
        )
        tt = teacher_training or {}
        self._teacher_words = tuple(normalise(w) for w in tt.get("teacher_words") or ())
        self._education_words = tuple(
            tuple(normalise(w).split()) for w in tt.get("education_words") or ()
        )
        # the first words of the education phrases, for one C-level check per word: a question
        # none of whose words starts like one names no education phrase (an empty phrase, which
        # occurs anywhere, makes the check always pass)
        self._education_firsts = tuple(seq[0] for seq in self._education_words if seq)
        self._education_anywhere = any(not seq for seq in self._education_words)
        self._subjects: list[tuple[str, tuple[str, ...]]] = [
            (str(code), tuple(normalise(w).split()))
            for code, words in (tt.get("subjects") or {}).items()
            for w in words
            if normalise(w)
        ]
        self._ask_when_alone = frozenset(str(c) for c in tt.get("ask_when_alone") or ())

    def _add(self, key: str, entry: _Entry) -> None:
        bucket = self._index.setdefault(key, [])
        if all(e.direction != entry.direction or e.is_field != entry.is_field for e in bucket):
            bucket.append(entry)

    # --- loading ---

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> ProgrammeCatalog:
        with path.open(encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        fields = [
            Field(code=str(f["code"]), level=str(f["level"]), name=dict(f["name"]))
            for f in raw["fields"]
        ]
        directions = []
        for d in raw["directions"]:
            cap_by_alias: dict[str, DLCap] = {}
            for cap, by_lang in (d.get("dl_cap_by_alias") or {}).items():
                for words in by_lang.values():
                    for w in words:
                        cap_by_alias[normalise(w)] = DLCap(str(cap))
            directions.append(
                Direction(
                    code=str(d["code"]),
                    level=d["level"],
                    field=str(d["field"]),
                    category=Category(d["category"]),
                    appendix_1=bool(d["appendix_1"]),
                    name=dict(d["name"]),
                    aliases={
                        lang: _as_str_tuple(v) for lang, v in (d.get("aliases") or {}).items()
                    },
                    appendix_1_name_kk=d.get("appendix_1_name_kk"),
                    appendix_1_note=d.get("appendix_1_note"),
                    cap_by_alias=cap_by_alias,
                )
            )
        return cls(
            fields,
            directions,
            mention_exclude=[w for ws in (raw.get("mention_exclude") or {}).values() for w in ws],
            kk_case_suffixes=raw.get("kk_case_suffixes") or (),
            level_words=raw.get("level_words") or {},
            teacher_training=raw.get("teacher_training") or {},
        )

    # --- lookup ---

    def lookup(self, query: str) -> LookupResult:
        """Resolve a code (any precision, any script) or a name/alias/typo to directions."""
        query = (query or "").strip()[:MAX_QUERY_CHARS]
        if not normalise(query):
            return self._empty(query, Reason.EMPTY_QUERY, "none")
        whole = _CODE_QUERY.match(query)
        if whole:
            return self._lookup_code(query, _canonical_code(*whole.groups()))
        codes = find_programme_mentions(query)
        if codes:
            return self._lookup_code(query, codes[0])
        teacher = self.teacher_training_code(query)
        if teacher is not None:
            return self._lookup_code(query, teacher)
        result = self._lookup_name(query)
        if not result.found:
            for reading in _latin_readings(query)[1:]:
                retry = self._lookup_name(reading)
                if retry.found:
                    return dataclasses.replace(retry, query=query)
        return result

    # --- teacher training ---

    def _words_at(self, words: list[str], seq: tuple[str, ...]) -> bool:
        """Whether ``seq`` occurs in ``words`` as consecutive word prefixes."""
        n = len(seq)
        if n == 0:
            return True
        first = seq[0]
        for i in range(len(words) - n + 1):
            if words[i].startswith(first) and all(
                words[i + j].startswith(seq[j]) for j in range(1, n)
            ):
                return True
        return False

    def _names_education(self, words: list[str]) -> bool:
        """Whether an education phrase ("білім беру", "education") occurs in ``words``: the
        phrases are looked for only when a word starts like the first word of one (issue 18.1:
        most questions name none, and each phrase was looked for at every word)."""
        firsts = self._education_firsts
        if not self._education_anywhere and not (
            firsts and any(map(str.startswith, words, repeat(firsts)))
        ):
            return False
        return any(self._words_at(words, seq) for seq in self._education_words)

    def _subject_codes(self, words: list[str]) -> list[str]:
        return list(
            dict.fromkeys(code for code, seq in self._subjects if self._words_at(words, seq))
        )

    def teacher_training_code(self, text: str) -> str | None:
        """The teacher-training direction a question names with a teacher word and a subject
        in any order ("учитель математики", "информатика педагогі", "music education"); the
        master's one when the question says master's. None when it names no such pair."""
        for reading in _latin_readings(text):
            words = normalise(reading).split()
            # any(map(...)): the same test of each word in turn, without a generator (issue 18)
            teacher = any(map(str.startswith, words, repeat(self._teacher_words)))
            if not (teacher or self._names_education(words)):
                continue
            subjects = self._subject_codes(words)
            if not subjects:
                continue
            code = subjects[0]
            if any(self._level_words.get(w) == "master" for w in words):
                code = "7M" + code[2:]
            return code if code in self.by_code else None
        return None

    def _teacher_alternatives(self, query: str, cands: list[Candidate]) -> list[Direction]:
        """For a bare subject ("математика", "физика"): its teacher-training directions, to be
        offered beside the subject's own ones (at the same levels)."""
        if len({c.direction.suffix for c in cands}) != 1 or any(
            c.direction.category is Category.PEDAGOGICAL for c in cands
        ):
            return []
        words = normalise(query).split()
        if any(w.startswith(self._teacher_words) for w in words):
            return []
        for code in self._subject_codes(words):
            if code in self._ask_when_alone:
                out = []
                for level in dict.fromkeys(c.direction.level for c in cands):
                    prefix = {"bachelor": "6B", "master": "7M"}.get(level)
                    found = self.by_code.get(f"{prefix}{code[2:]}") if prefix else None
                    if found is not None:
                        out.append(found)
                return out
        return []

    def _empty(
        self, query: str, reason: Reason, kind: Any, code: str | None = None
    ) -> LookupResult:
        return LookupResult(
            query=query,
            kind=kind,
            candidates=(),
            online_allowed=None,
            dl_cap=None,
            needs_clarification=True,
            reason=reason,
            clauses=(),
            code=code,
        )

    def _lookup_code(self, query: str, code: str) -> LookupResult:
        prefix, digits = code[:2], code[2:]
        if _PAIRS.get(prefix[0]) != prefix[1] or len(digits) < 2 or len(digits) > 7:
            return self._empty(query, Reason.UNKNOWN_CODE, "code", code)
        if prefix == "8D":
            return self._lookup_doctoral(query, code, digits)
        if len(digits) == 2:
            fld = self.fields.get(code)
            members = [d for d in self.directions if d.field == code]
            if fld is None or not members:
                return self._empty(query, Reason.UNKNOWN_CODE, "field", code)
            cands = [Candidate(d, d.verdict(), 100.0, code) for d in members]
            reason = Reason.FIELD_CODE if len(cands) > 1 else None
            return self._result(query, "field", cands, reason, code=code, fld=fld)
        direction = self.by_code.get(prefix + digits[:3])
        if direction is None:
            return self._empty(query, Reason.UNKNOWN_CODE, "code", code)
        return self._result(
            query,
            "code",
            [Candidate(direction, direction.verdict(), 100.0, code)],
            None,
            code=code,
        )

    def _lookup_doctoral(self, query: str, code: str, digits: str) -> LookupResult:
        """Doctoral (8D…) codes share their field and direction digits with master's ones
        (8D042 ↔ 7M042): the distance-learning caps (5.4.5–5.4.7) apply to them as well,
        while Appendix 1 lists only bachelor's and master's directions, so it does not bar
        them."""
        if len(digits) == 2:
            members = [_doctoral(d) for d in self.directions if d.field == "7M" + digits]
            fld = self.fields.get("7M" + digits)
            if not members or fld is None:
                return self._empty(query, Reason.UNKNOWN_CODE, "field", code)
            fld = Field(code=code, level="doctoral", name=fld.name)
            cands = [Candidate(d, d.verdict(), 100.0, code) for d in members]
            reason = Reason.FIELD_CODE if len(cands) > 1 else None
            return self._result(query, "field", cands, reason, code=code, fld=fld)
        master = self.by_code.get("7M" + digits[:3])
        if master is None:
            return self._empty(query, Reason.UNKNOWN_CODE, "code", code)
        direction = _doctoral(master)
        return self._result(
            query,
            "code",
            [Candidate(direction, direction.verdict(), 100.0, code)],
            None,
            code=code,
        )

    def _lookup_name(self, query: str) -> LookupResult:
        words = normalise(query).split()
        levels = {self._level_words[w] for w in words if w in self._level_words}
        key = " ".join(w for w in words if w not in self._level_words) or " ".join(words)
        scored = self._match_name(key)
        if not scored and len(key.split()) > 1:
            mentions = self.find_name_mentions(query)
            if mentions:
                scored = self._match_name(mentions[0].query)
        if len(levels) == 1:
            scored = {i: v for i, v in scored.items() if self.directions[i].level in levels}
        if not scored:
            return self._empty(query, Reason.NOT_FOUND, "none")
        best = max(score for score, _, _ in scored.values())
        keep = sorted(
            (i for i, (score, _, _) in scored.items() if score >= best - AMBIGUITY_MARGIN),
            key=lambda i: (-scored[i][0], self.directions[i].code),
        )
        cands = [
            Candidate(
                self.directions[i],
                self.directions[i].verdict(scored[i][2]),
                scored[i][0],
                scored[i][1],
            )
            for i in keep
        ]
        for teacher in self._teacher_alternatives(query, cands):
            cands.append(Candidate(teacher, teacher.verdict(), cands[0].score - 1.0, query))
        suffixes = {c.direction.suffix for c in cands}
        reason = Reason.AMBIGUOUS_NAME if len(suffixes) > 1 else None
        return self._result(query, "name", cands, reason)

    def _match_name(self, key: str) -> dict[int, tuple[float, str, DLCap | None]]:
        """direction index → (score, matched key, cap hint), best per direction."""
        scored: dict[int, tuple[float, str, DLCap | None]] = {}

        def take(choice: str, score: float) -> None:
            entries = self._index[choice]
            # An exact or fuzzy hit on a direction's own name beats the field's name.
            direct = [e for e in entries if not e.is_field] or entries
            for e in direct:
                s = score - (1.0 if e.is_field else 0.0)
                if e.direction not in scored or scored[e.direction][0] < s:
                    scored[e.direction] = (s, choice, e.cap_hint)

        if key in self._index:
            take(key, 100.0)
            return scored
        if len(key) < 3:
            return scored
        # A sentence ("имею ли я право учиться онлайн") is not a name: only a close match of
        # the whole of it counts here; otherwise the caller looks for names inside it.
        sentence = len(key.split()) >= SENTENCE_WORDS
        scorers = (fuzz.ratio,) if sentence else (fuzz.ratio, fuzz.token_set_ratio)
        for scorer in scorers:
            for choice, score, _ in process.extract(
                key,
                self._choices,
                scorer=scorer,
                limit=12,
                score_cutoff=MENTION_CUTOFF if sentence else NAME_CUTOFF,
            ):
                if scorer is fuzz.token_set_ratio:
                    # "учитель" fully inside "учитель музыки" scores 100; keep it below exact.
                    score = min(score, 99.0) - (0 if len(choice) <= len(key) + 2 else 4.0)
                take(choice, float(score))
        return scored

    def _result(
        self,
        query: str,
        kind: Literal["code", "field", "name"],
        cands: list[Candidate],
        reason: Reason | None,
        *,
        code: str | None = None,
        fld: Field | None = None,
    ) -> LookupResult:
        online = {c.verdict.online_allowed for c in cands}
        caps = {c.verdict.dl_cap for c in cands}
        cap = caps.pop() if len(caps) == 1 else None
        if reason is None and cap is DLCap.ASK:
            reason = Reason.ARTS_PROGRAMME
        return LookupResult(
            query=query,
            kind=kind,
            candidates=tuple(cands),
            online_allowed=online.pop() if len(online) == 1 else None,
            dl_cap=cap,
            needs_clarification=reason is not None,
            reason=reason,
            clauses=order_clauses(cl for c in cands for cl in c.verdict.clauses),
            field=fld,
            code=code,
        )

    # --- free text ---

    def lookup_mentioned(self, text: str) -> LookupResult | None:
        """The lookup for the programme a free-text question names, or None if it names none.

        A code wins over a name ("6B06102 бағдарламасы онлайн бола ма?"); for names the best
        mention is used, so "Can I study public health online?" answers for 6B101/7M101.
        """
        codes = find_programme_mentions(text)
        if codes:
            return self._lookup_code(text, codes[0])
        teacher = self.teacher_training_code(text)
        if teacher is not None:
            return self._lookup_code(text, teacher)
        mentions = self.find_name_mentions(text)
        if not mentions:
            return None
        return self.lookup(mentions[0].query)

    def find_name_mentions(self, text: str) -> list[NameMention]:
        """Direction names in a sentence ("ветеринарияны онлайн оқуға бола ма"), best first;
        Latin-typed Kazakh or Russian ("zanger", "informatika") is read in Cyrillic too."""
        found = self._name_mentions(text)
        if found:
            return found
        for reading in _latin_readings(text)[1:]:
            found = self._name_mentions(reading)
            if found:
                return found
        return []

    def _name_mentions(self, text: str) -> list[NameMention]:
        spans = list(_WORD.finditer((text or "")[:2000]))
        raw = [m.group(0) for m in spans]
        norm = [_normalise_word(t) for t in raw]
        best: dict[tuple[str, ...], NameMention] = {}
        exclude, short, index, long_mention = (
            self._mention_exclude,
            self._short_aliases,
            self._index,
            self._long_mention,
        )
        for n in range(min(self._max_ngram, len(norm)), 0, -1):
            for i in range(len(norm) - n + 1):
                gram = " ".join(norm[i : i + n])
                if not gram:
                    continue
                # the n-gram's hit, inline (issue 18: ~40 n-grams a question, and the raw words
                # are only joined for a short one)
                hit: tuple[str, float] | None
                if gram in exclude:
                    hit = None
                elif len(gram) <= 3:
                    # "IT", "ИКТ": only as written, so the English "it" is not a programme
                    in_short = " ".join(raw[i : i + n]) in short and gram in index
                    hit = (gram, 100.0) if in_short else None
                else:
                    hit = long_mention(gram)
                if hit is None and n == 1:
                    hit = self._inflected_hit(gram, norm, i)
                if hit is None:
                    continue
                choice, score = hit
                codes = tuple(
                    sorted(
                        {
                            self.directions[e.direction].code
                            for e in self._index[choice]
                            if not e.is_field
                        }
                    )
                )
                if not codes:
                    continue
                original = text[spans[i].start() : spans[i + n - 1].end()]
                group = tuple(sorted({c[2:] for c in codes}))
                if group not in best or best[group].score < score:
                    best[group] = NameMention(
                        query=choice, text=original, codes=codes, score=score
                    )
        return sorted(best.values(), key=lambda m: (-m.score, m.codes))

    def _inflected_hit(self, word: str, norm: list[str], i: int) -> tuple[str, float] | None:
        """One inflected word naming a direction: Russian case endings and derived adjectives
        («педагогической», «на экономическом», «музыкальное»), Kazakh -лық adjectives
        («педагогикалық»); an ambiguous word kept out of mentions («құқық», «право»: also
        "a right") counts only beside a word such as «мамандық», «специальность», «major»."""
        if " " in word:
            return None
        role = _role_direction(word, norm, i)
        if role is not None and role in self._index:
            return role, 90.0
        beside = [norm[j] for j in (i - 1, i + 1) if 0 <= j < len(norm)]
        marked = any(w.startswith(_PROGRAMME_MARKERS) for w in beside)
        if len(word) < 5:
            # «заң мамандығы»: a short ambiguous name counts beside a programme word
            if marked and word in self._mention_exclude and word in self._index:
                return word, 95.0
            return None
        if word in self._mention_exclude:
            if marked and word in self._index:
                return word, 95.0
            return None
        for stem in _word_stem_order(word):
            for key in self._stem_index.get(stem, ()):
                if key in self._mention_exclude and not marked:
                    continue
                return key, 93.0
        return None

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one catalog per process, kept for life
    def _choices_near(self, size: int) -> list[str]:
        """The names a word of ``size`` letters can reach ``MENTION_CUTOFF`` with (in the
        order of ``_choices``, so ties go the same way): ``fuzz.ratio`` is at most
        200·min(a, b)/(a + b) for lengths a and b, so names much shorter or longer are
        skipped without being compared."""
        return [
            c
            for c in self._choices
            if 200.0 * min(size, len(c)) / (size + len(c)) >= MENTION_CUTOFF - 1e-6
        ]

    @functools.lru_cache(maxsize=20_000)  # noqa: B019 - one catalog per process, kept for life
    def _long_mention(self, gram: str) -> tuple[str, float] | None:
        """A word or phrase of 4+ letters: a name, an inflected name, or the fuzzy match
        (issue 18: the costliest part of answering; the words of questions repeat, so each is
        looked up once)."""
        if gram in self._index:
            return gram, 100.0
        for size, suffixes in self._suffixes_by_length:  # longest first, as _suffixes
            stem = gram[:-size]
            if len(stem) >= 4 and gram[-size:] in suffixes and stem in self._index:
                if stem in self._mention_exclude:
                    return None
                return stem, 95.0
        if len(gram) < 5:
            return None
        hit = process.extractOne(
            gram, self._choices_near(len(gram)), scorer=fuzz.ratio, score_cutoff=MENTION_CUTOFF
        )
        if hit is None or hit[0] in self._mention_exclude or len(hit[0]) <= 3:
            return None
        return hit[0], float(hit[1])


_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яёәғқңөұүһі]", re.IGNORECASE)


def _latin_readings(text: str) -> list[str]:
    """The text, then (when it has Latin words) its Kazakh and Russian Cyrillic readings."""
    if not _LATIN.search(text or ""):
        return [text]
    readings = [text]
    for lang in ("kk", "ru"):
        words = [
            transliterate(w, lang) if _LATIN.search(w) and not _CYRILLIC.search(w) else w
            for w in _WORD.findall(text)
        ]
        readings.append(" ".join(words))
    return readings


def _doctoral(master: Direction) -> Direction:
    """The doctoral (8D…) counterpart of a master's direction: the same category and caps;
    Appendix 1 does not list doctoral directions."""
    return dataclasses.replace(
        master,
        code="8D" + master.code[2:],
        level="doctoral",
        appendix_1=False,
        appendix_1_name_kk=None,
        appendix_1_note=None,
    )


@functools.cache
def load_catalog(path: Path = DATA_FILE) -> ProgrammeCatalog:
    """The catalog, read once per process (tests and services share it; it is immutable)."""
    return ProgrammeCatalog.load(path)


def find_direction_mentions(text: str, catalog: ProgrammeCatalog) -> list[NameMention]:
    """Module-level spelling of ``catalog.find_name_mentions`` for the question router."""
    return catalog.find_name_mentions(text)
