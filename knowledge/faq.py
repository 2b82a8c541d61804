"""The university FAQ and the offices directory: data, the FAQ matcher and the office router.

Data (issue 12):

* ``knowledge/faq/*.yaml``: FAQ entries (question variants and answers in kk/ru/en, the office,
  the clauses named, "to be confirmed", source, review date, tags); staff-made entries come
  from the database through :mod:`bot.services.faq` and use the same :class:`FaqEntry`;
* ``knowledge/data/offices.yaml``: the offices; contacts still marked with the placeholder are
  dropped on load, so nothing downstream can show a made-up contact line;
* ``knowledge/data/faq_concepts.yaml``: words that name one thing in several languages and
  slangs (общага = жатақхана = dorm), shared by the matcher and the router.

Matching: :func:`faq_documents` makes each entry (its title and question variants) and the
questions staff taught a clause into documents of the question matcher
(``knowledge.qmatch.NgramIndex``), the one index that also holds the clauses; an entry's score
is the character n-gram cosine of its closest variant. Everything here is pure and synchronous.

The office router (:class:`OfficeRouter`) matches the offices' keywords (prefixes, concepts) and
returns the office the question names most strongly, or None.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from knowledge.qmatch import Document
from knowledge.textnorm import (
    LANGS,
    Token,
    fold,
    has_kazakh_letters,
    load_data,
    stopwords,
    tokenize,
    transliterate,
)

FAQ_DIR = Path(__file__).resolve().parent / "faq"
DATA_DIR = Path(__file__).resolve().parent / "data"
PLACEHOLDER = "TO BE FILLED BY THE UNIVERSITY"
CONTACT_FIELDS: tuple[str, ...] = ("phone", "email", "telegram", "website")
TEXT_FIELDS: tuple[str, ...] = ("hours", "location")
FALLBACK_ORDER: dict[str, tuple[str, ...]] = {
    "kk": ("kk", "ru", "en"),
    "ru": ("ru", "kk", "en"),
    "en": ("en", "ru", "kk"),
}
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")

_PREFIX = 5  # letters of a word compared by the office router (a crude stem)


class FaqDataError(ValueError):
    """A FAQ or offices file (or an import) is malformed; the message says where and what."""


# --- data -------------------------------------------------------------------------------------


def _known(value: Any) -> str | None:
    """A contact or text value, or None when it is empty or still the placeholder."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.upper() == PLACEHOLDER or PLACEHOLDER in text.upper():
        return None
    return text


def _langs_dict(value: Any, *, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {lang: value for lang in LANGS}
    if not isinstance(value, Mapping):
        raise FaqDataError(f"{where}: expected kk/ru/en texts, got {type(value).__name__}")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGS:
            raise FaqDataError(f"{where}: unknown language {lang!r} (use kk, ru, en)")
        if text is not None and str(text).strip():
            out[str(lang)] = str(text).strip()
    return out


@dataclass(frozen=True, slots=True)
class Office:
    """One office; ``contacts``, ``hours`` and ``location`` hold known values only."""

    id: str
    name: dict[str, str]
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    weak_keywords: tuple[str, ...] = ()
    contacts: dict[str, str] = field(default_factory=dict)
    hours: dict[str, str] = field(default_factory=dict)
    location: dict[str, str] = field(default_factory=dict)

    def name_in(self, lang: str) -> str:
        for code in FALLBACK_ORDER.get(lang, LANGS):
            if self.name.get(code):
                return self.name[code]
        return self.id

    def hours_in(self, lang: str) -> str | None:
        return self.hours.get(lang)

    def location_in(self, lang: str) -> str | None:
        return self.location.get(lang)

    @property
    def has_contacts(self) -> bool:
        return bool(self.contacts or self.hours or self.location)

    @classmethod
    def from_data(cls, raw: Mapping[str, Any], *, where: str = "offices") -> Office:
        office_id = str(raw.get("id") or "").strip()
        if not _KEY_RE.match(office_id.replace("_", "-")):
            raise FaqDataError(
                f"{where}: an office needs an id of lower-case letters, got {office_id!r}"
            )
        here = f"{where}: office {office_id}"
        name = _langs_dict(raw.get("name"), where=f"{here} name")
        if not name:
            raise FaqDataError(f"{here}: a name is required")
        contacts_raw = raw.get("contacts") or {}
        if not isinstance(contacts_raw, Mapping):
            raise FaqDataError(f"{here}: contacts must be a mapping")
        contacts = {k: v for k in CONTACT_FIELDS if (v := _known(contacts_raw.get(k))) is not None}
        texts = {
            f: {
                lang: text
                for lang, t in _langs_dict(raw.get(f), where=f"{here} {f}").items()
                if (text := _known(t)) is not None
            }
            for f in TEXT_FIELDS
        }
        return cls(
            id=office_id,
            name=name,
            topics=tuple(str(t) for t in raw.get("topics") or ()),
            keywords=tuple(str(k) for k in raw.get("keywords") or () if str(k).strip()),
            weak_keywords=tuple(str(k) for k in raw.get("weak_keywords") or () if str(k).strip()),
            contacts=contacts,
            hours=texts["hours"],
            location=texts["location"],
        )


@lru_cache(maxsize=1)
def load_offices_data() -> tuple[dict[str, Any], ...]:
    """The raw office records of ``offices.yaml`` (the seed of the admins' overlay)."""
    raw = load_data("offices.yaml")
    offices = raw.get("offices") or []
    if not isinstance(offices, list):
        raise FaqDataError("offices.yaml: 'offices' must be a list")
    return tuple(dict(o) for o in offices)


def load_offices(overlay: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Office]:
    """Offices by id: the YAML seed with the admins' overlay (field by field) on top."""
    out: dict[str, Office] = {}
    seen: set[str] = set()
    records = [dict(o) for o in load_offices_data()]
    for record in records:
        seen.add(str(record.get("id")))
    for office_id in overlay or {}:
        if office_id not in seen:
            records.append({"id": office_id})
    for record in records:
        merged = merge_office(record, (overlay or {}).get(str(record.get("id")), {}))
        office = Office.from_data(merged)
        if office.id in out:
            raise FaqDataError(f"offices: office {office.id} is listed twice")
        out[office.id] = office
    return out


def merge_office(record: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """One office record with overlay fields applied. Overlay keys are flat: ``name.kk``,
    ``contacts.phone``, ``hours.ru``, ``keywords`` (a list) …; None clears a field."""
    merged: dict[str, Any] = {
        k: (dict(v) if isinstance(v, Mapping) else v) for k, v in record.items()
    }
    for key, value in overlay.items():
        if "." in key:
            group, sub = key.split(".", 1)
            current = merged.get(group)
            if isinstance(current, str):
                current = dict.fromkeys(LANGS, current)
            bucket = dict(current or {})
            bucket[sub] = value if value is not None else PLACEHOLDER
            merged[group] = bucket
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One FAQ entry. ``answer`` holds only the languages written; the others fall back."""

    key: str
    question: dict[str, str]
    answer: dict[str, str]
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    office: str | None = None
    tags: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()
    to_confirm: bool = True
    source: str = ""
    confirmed_by: str = ""
    reviewed: date | None = None
    origin: str = "yaml"  # yaml | staff | import

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in LANGS if self.answer.get(lang))

    def served_language(self, lang: str) -> str | None:
        """The language the answer is served in for a user of ``lang`` (None: no answer)."""
        for code in FALLBACK_ORDER.get(lang, LANGS):
            if self.answer.get(code):
                return code
        return None

    def question_in(self, lang: str) -> str | None:
        for code in FALLBACK_ORDER.get(lang, LANGS):
            if self.question.get(code):
                return self.question[code]
        return None

    def texts(self) -> list[tuple[str, str]]:
        """Every (language, question text) the matcher learns from: titles and variants."""
        out: list[tuple[str, str]] = []
        for lang in LANGS:
            seen: set[str] = set()
            for text in (self.question.get(lang), *self.variants.get(lang, ())):
                if text and text.strip() and text.strip().lower() not in seen:
                    seen.add(text.strip().lower())
                    out.append((lang, text.strip()))
        return out

    def as_data(self) -> dict[str, Any]:
        """The YAML/JSON shape of ``knowledge/faq/*.yaml`` (export, the database)."""
        return {
            "id": self.key,
            "office": self.office,
            "tags": list(self.tags),
            "clauses": list(self.clauses),
            "to_confirm": self.to_confirm,
            "source": self.source,
            "confirmed_by": self.confirmed_by,
            "reviewed": self.reviewed.isoformat() if self.reviewed else None,
            "question": dict(self.question),
            "variants": {lang: list(v) for lang, v in self.variants.items() if v},
            "answer": dict(self.answer),
        }

    @classmethod
    def from_data(
        cls, raw: Mapping[str, Any], *, where: str = "faq", origin: str = "yaml"
    ) -> FaqEntry:
        if not isinstance(raw, Mapping):
            raise FaqDataError(f"{where}: an entry must be a mapping")
        key = str(raw.get("id") or "").strip()
        if not _KEY_RE.match(key):
            raise FaqDataError(
                f"{where}: 'id' must be 2-63 lower-case letters, digits or dashes, got {key!r}"
            )
        here = f"{where}: entry {key}"
        answer = _langs_dict(raw.get("answer"), where=f"{here} answer")
        if not answer:
            raise FaqDataError(f"{here}: an answer in at least one language is required")
        question = _langs_dict(raw.get("question"), where=f"{here} question")
        variants_raw = raw.get("variants") or {}
        if not isinstance(variants_raw, Mapping):
            raise FaqDataError(f"{here}: 'variants' must map kk/ru/en to lists")
        variants: dict[str, tuple[str, ...]] = {}
        for lang, items in variants_raw.items():
            if lang not in LANGS:
                raise FaqDataError(f"{here} variants: unknown language {lang!r}")
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, list):
                raise FaqDataError(f"{here} variants.{lang}: expected a list")
            variants[str(lang)] = tuple(str(i).strip() for i in items if str(i).strip())
        if not question and not any(variants.values()):
            raise FaqDataError(f"{here}: a question or question variants are required")
        reviewed = raw.get("reviewed")
        if isinstance(reviewed, str) and reviewed.strip():
            try:
                reviewed = date.fromisoformat(reviewed.strip())
            except ValueError:
                raise FaqDataError(
                    f"{here}: 'reviewed' must be a date YYYY-MM-DD, got {reviewed!r}"
                ) from None
        elif not isinstance(reviewed, date):
            reviewed = None
        clauses = raw.get("clauses") or ()
        tags = raw.get("tags") or ()
        if isinstance(clauses, str) or isinstance(tags, str):
            raise FaqDataError(f"{here}: 'clauses' and 'tags' are lists")
        office = raw.get("office")
        return cls(
            key=key,
            question=question,
            answer=answer,
            variants=variants,
            office=str(office).strip() if office else None,
            tags=tuple(str(t) for t in tags),
            clauses=tuple(str(c) for c in clauses),
            to_confirm=bool(raw.get("to_confirm", True)),
            source=str(raw.get("source") or ""),
            confirmed_by=str(raw.get("confirmed_by") or ""),
            reviewed=reviewed,
            origin=origin,
        )


def parse_entries(raw: Any, *, where: str, origin: str = "yaml") -> list[FaqEntry]:
    """Entries of one YAML document (``{entries: [...]}`` or a bare list)."""
    if isinstance(raw, Mapping):
        raw = raw.get("entries")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FaqDataError(f"{where}: expected a list of entries under 'entries'")
    return [
        FaqEntry.from_data(item, where=f"{where} #{i + 1}", origin=origin)
        for i, item in enumerate(raw)
    ]


def read_yaml(text: str, *, where: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise FaqDataError(f"{where}: not valid YAML ({exc})") from None


@lru_cache(maxsize=1)
def load_faq_files(directory: Path = FAQ_DIR) -> tuple[FaqEntry, ...]:
    """Every entry of ``knowledge/faq/*.yaml`` (read once per process; keys are unique)."""
    entries: list[FaqEntry] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        raw = read_yaml(path.read_text(encoding="utf-8"), where=path.name)
        for entry in parse_entries(raw, where=path.name):
            if entry.key in seen:
                raise FaqDataError(f"{path.name}: entry {entry.key} is also in {seen[entry.key]}")
            seen[entry.key] = path.name
            entries.append(entry)
    return tuple(entries)


# --- text features ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Concept:
    index: int
    keys: tuple[str, ...]  # prefix keys of the form's words


def _prefix_key(word: str) -> str:
    return word[:_PREFIX]


def _key_matches(key: str, word: str) -> bool:
    """A form's word key against a question word: the 5-letter prefix, or a short word whole
    (up to two more letters: "dorm" → "dorms", not "dormant")."""
    if len(key) >= _PREFIX:
        return word.startswith(key)
    return word.startswith(key) and len(word) <= len(key) + 2


@lru_cache(maxsize=1)
def _stop_all() -> tuple[frozenset[str], frozenset[str]]:
    stops = stopwords()
    return stops["kk"], frozenset().union(*stops.values())


def _is_stop(tok: Token) -> bool:
    kk, every = _stop_all()
    return tok.norm in (kk if has_kazakh_letters(tok.raw) else every)


@lru_cache(maxsize=1)
def load_concepts() -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Concept forms as folded word sequences: the FAQ's own table, then the regulation's."""
    out: list[tuple[tuple[str, ...], ...]] = []
    for name in ("faq_concepts.yaml", "synonyms.yaml"):
        for concept in load_data(name).get("concepts", []) or []:
            forms: list[tuple[str, ...]] = []
            for lang in LANGS:
                for form in concept.get(lang, []) or []:
                    words = tuple(
                        t.norm for t in tokenize(str(form)) if not _is_stop(t) or t.upper
                    )
                    if words and all(len(w) >= 2 for w in words):
                        forms.append(words)
            if forms:
                out.append(tuple(forms))
    return tuple(out)


class _ConceptTable:
    """Finds the concepts a word sequence names (longest forms first)."""

    def __init__(self, concepts: Sequence[Sequence[tuple[str, ...]]]) -> None:
        self.by_first: dict[str, list[_Concept]] = defaultdict(list)
        for index, forms in enumerate(concepts):
            for form in forms:
                keys = tuple(_prefix_key(w) for w in form)
                self.by_first[keys[0][:2]].append(_Concept(index, keys))
        for bucket in self.by_first.values():
            bucket.sort(key=lambda c: -len(c.keys))

    def find(self, words: Sequence[str]) -> set[int]:
        found: set[int] = set()
        for i, word in enumerate(words):
            for concept in self.by_first.get(word[:2], ()):
                n = len(concept.keys)
                if i + n <= len(words) and all(
                    _key_matches(k, w) for k, w in zip(concept.keys, words[i : i + n], strict=True)
                ):
                    found.add(concept.index)
        return found


class Analyzer:
    """Turns a text into weighted features; Latin-typed kk/ru words are transliterated when the
    transliteration is a known word (``cyrillic`` prefixes) and the word is not English."""

    def __init__(
        self,
        concepts: Sequence[Sequence[tuple[str, ...]]] | None = None,
        *,
        cyrillic: Iterable[str] = (),
        english: Iterable[str] = (),
    ) -> None:
        self.concepts = _ConceptTable(load_concepts() if concepts is None else concepts)
        self.cyrillic = set(cyrillic)  # 5-letter prefixes of Cyrillic words the FAQ knows
        self.english = set(english)  # Latin words of the English texts
        self._en_stop = stopwords()["en"]

    def learn(self, text: str, lang: str) -> None:
        """Add a text's words to the known vocabulary (call before analysing Latin input).
        Latin words count as English only in English texts: "jataqhana" in a Kazakh variant
        is Kazakh typed in Latin letters."""
        for tok in tokenize(text):
            if tok.script == "cyr":
                self.cyrillic.add(_prefix_key(tok.norm))
            elif tok.script == "lat" and lang == "en":
                self.english.add(tok.norm)

    def words(self, text: str, lang: str | None = None) -> list[str]:
        out: list[str] = []
        for tok in tokenize(text[:1000]):
            if _is_stop(tok) and not tok.upper:
                continue
            word = tok.norm
            if tok.script == "lat" and word not in self.english and word not in self._en_stop:
                word = self._cyrillic_reading(tok, lang)
            if len(word) < 2 and not word.isdigit():
                continue
            out.append(word)
        return out[:60]

    def _cyrillic_reading(self, tok: Token, lang: str | None) -> str:
        order = ("ru", "kk") if lang == "ru" else ("kk", "ru")
        readings = [transliterate(tok.raw, code) for code in order]
        for reading in readings:
            if _prefix_key(reading) in self.cyrillic:
                return reading
        if lang in ("kk", "ru"):
            return readings[0]
        return tok.norm


# --- FAQ entries as documents of the question matcher ------------------------------------------


@dataclass(frozen=True, slots=True)
class ClauseExample:
    """A question staff marked "answered by clause X": taught to the matcher as data."""

    text: str
    lang: str
    clause_id: str


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The best entry for a question: the cosine of its closest question variant (0..1), the
    margin over the next entry, and the share of the question's content words its variants
    have (by their first letters): "во сколько открывается столовая" shares its frame with
    "во сколько открывается портал" but not what it asks about."""

    entry: FaqEntry
    score: float
    margin: float
    explained: float = 0.0


FAQ_KIND = "faq"
TAUGHT_KIND = "taught"
CONCEPT_VARIANTS = 6  # variants an entry gains per language from its concepts' other names


@lru_cache(maxsize=1)
def concept_words() -> dict[str, dict[str, tuple[str, ...]]]:
    """Per language: the first letters of a one-word name of a FAQ concept (folded, as
    ``_prefix_key``) -> the concept's other one-word names in that language
    (``faq_concepts.yaml``: «общеж» -> «общага», «обшага» …)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {lang: {} for lang in LANGS}
    for concept in load_data("faq_concepts.yaml").get("concepts", []) or []:
        for lang in LANGS:
            forms = [fold(str(f)) for f in concept.get(lang, []) or [] if " " not in str(f)]
            for form in forms:
                key = _prefix_key(form)
                others = tuple(f for f in forms if _prefix_key(f) != key)
                if others:
                    out[lang][key] = tuple(dict.fromkeys([*out[lang].get(key, ()), *others]))
    return out


def _concept_variants(lang: str, text: str) -> list[str]:
    """The text with a word that names a FAQ concept replaced by the concept's other names:
    a question in slang («общага») then meets the entry written with «общежитие»."""
    table = concept_words().get(lang, {})
    words = fold(text).split()
    out: list[str] = []
    for i, word in enumerate(words):
        key = _prefix_key(word.strip("?!.,;:«»\"'()"))
        for other in table.get(key, ()) if len(key) >= 3 else ():
            out.append(" ".join([*words[:i], other, *words[i + 1 :]]))
    return out


def faq_documents(
    entries: Iterable[FaqEntry], examples: Iterable[ClauseExample] = ()
) -> list[Document]:
    """FAQ entries (their titles and question variants, and variants with a concept's other
    names: ``faq_concepts.yaml``) and the questions staff taught each clause, as documents of
    the question matcher (``knowledge.qmatch``): kinds ``faq`` (id: the entry's key) and
    ``taught`` (id: the clause)."""
    docs: list[Document] = []
    for entry in entries:
        questions: dict[str, list[str]] = defaultdict(list)
        extra: list[tuple[str, str]] = []
        for lang, text in entry.texts():
            questions[lang].append(text)
            extra += [(lang, v) for v in _concept_variants(lang, text)]
        added: dict[str, int] = defaultdict(int)
        for lang, text in dict.fromkeys(extra):
            if added[lang] < CONCEPT_VARIANTS:
                questions[lang].append(text)
                added[lang] += 1
        docs.append(Document(kind=FAQ_KIND, id=entry.key, questions=dict(questions)))
    taught: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        taught[ex.clause_id][ex.lang if ex.lang in LANGS else "kk"].append(ex.text)
    for clause_id, questions_by_lang in taught.items():
        docs.append(Document(kind=TAUGHT_KIND, id=clause_id, questions=dict(questions_by_lang)))
    return docs


# --- office routing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfficeRoute:
    office: Office
    score: float
    keyword: str


class OfficeRouter:
    """Offices by the keywords a question contains: strong keywords count 2, weak ones 1; a
    longer keyword (more words) counts more. The best office must beat the second."""

    def __init__(self, offices: Mapping[str, Office], analyzer: Analyzer | None = None) -> None:
        self.offices = dict(offices)
        self.analyzer = analyzer or Analyzer()
        self._keywords: list[tuple[str, tuple[str, ...], float, str]] = []
        for office in self.offices.values():
            for weight, words in ((2.0, office.keywords), (1.0, office.weak_keywords)):
                for keyword in words:
                    # keywords are written as stems ("общежит"): the whole word is the prefix
                    keys = tuple(t.norm for t in tokenize(keyword) if len(t.norm) >= 2)
                    if keys:
                        self._keywords.append((office.id, keys, weight, keyword))
        # per key word: the keywords that use it (a question checks only the keywords whose
        # words it has, not all of them)
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for i, (_office, keys, _weight, _keyword) in enumerate(self._keywords):
            for key in dict.fromkeys(keys):
                self._by_key[key].append(i)
        self._key_lengths = sorted({len(key) for key in self._by_key})

    def _matched_keys(self, words: Iterable[str]) -> set[str]:
        """The keys that match one of ``words`` (``_key_matches``), found by looking up each
        word's prefixes instead of comparing every key with every word."""
        by_key = self._by_key
        out: set[str] = set()
        for word in words:
            size = len(word)
            for n in self._key_lengths:
                if n > size:
                    break
                key = word[:n]
                if key in by_key and (n >= _PREFIX or size <= n + 2):
                    out.add(key)
        return out

    def scores(self, question: str, lang: str | None = None) -> dict[str, tuple[float, str]]:
        words = self._matched_keys(self.analyzer.words(question, lang))
        raw_words = self._matched_keys(t.norm for t in tokenize(question[:1000]))
        candidates = sorted({i for key in words | raw_words for i in self._by_key[key]})
        out: dict[str, tuple[float, str]] = {}
        for i in candidates:
            office_id, keys, weight, keyword = self._keywords[i]
            hit = all(k in words for k in keys) or all(k in raw_words for k in keys)
            if not hit:
                continue
            score = weight * (1.0 + 0.5 * (len(keys) - 1))
            current = out.get(office_id)
            total = (current[0] if current else 0.0) + score
            best_kw = current[1] if current and current[0] >= score else keyword
            out[office_id] = (total, best_kw)
        return out

    def route(self, question: str, lang: str | None = None) -> OfficeRoute | None:
        scores = self.scores(question, lang)
        if not scores:
            return None
        ranked = sorted(scores.items(), key=lambda kv: -kv[1][0])
        (best_id, (best, keyword)) = ranked[0]
        if len(ranked) > 1 and ranked[1][1][0] >= best:
            return None  # two offices named equally: a person decides
        return OfficeRoute(self.offices[best_id], best, keyword)


__all__ = [
    "FALLBACK_ORDER",
    "FAQ_KIND",
    "PLACEHOLDER",
    "TAUGHT_KIND",
    "Analyzer",
    "ClauseExample",
    "FaqDataError",
    "FaqEntry",
    "FaqMatch",
    "Office",
    "OfficeRoute",
    "OfficeRouter",
    "faq_documents",
    "fold",
    "load_faq_files",
    "load_offices",
    "parse_entries",
]
