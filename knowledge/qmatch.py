"""Match a question to example questions and document texts by character n-grams.

The clause search (``knowledge.search``) ranks clauses by the words they share with a
question. Students rarely use the regulation's words, so this module adds a second, different
signal: how close the question is to *questions* people ask about each document (the bank in
``knowledge/regulation/questions/``), and to the document's own text, measured as the cosine of
TF-IDF vectors over character n-grams (3–5 letters inside word boundaries, the ``char_wb``
analyser of the IR literature). n-grams meet across Kazakh and Russian endings («оқуға»,
«оқуды»), typos («дистанционка», «дистанцонка») and folded letters without a stemmer.

The index holds *documents* of any kind: a regulation clause (``kind="clause"``), an example
of a question the regulation does not cover (``kind="not_covered"``), and later a FAQ entry
(``kind="faq"``): each document has example questions and texts per language, and a search
reports, per document, its best question match and its best text match. Nothing here knows
what a clause is.

Latin-typed Kazakh and Russian ("qashyqtan oqu", "distancionno") are read a second time
transliterated to Cyrillic (``textnorm.transliterate``) and the better reading counts.

numpy is the only dependency: the n-gram → entry postings are flat arrays, and a query is one
``np.bincount`` over the postings of its n-grams (about 0.1–0.3 ms for ~3,000 entries).
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from knowledge.textnorm import fold, stopwords, transliterate

QUESTIONS_DIR = Path(__file__).resolve().parent / "regulation" / "questions"
NGRAM_MIN, NGRAM_MAX = 3, 5
PREFIX_LEN = 4  # words compared by their first letters when checking what a match explains
LANGS: tuple[str, ...] = ("kk", "ru", "en")

SOURCE_QUESTION = 0  # an example question
SOURCE_TITLE = 1  # a title or a short alias (question-sized)
SOURCE_TEXT = 2  # the document's text

_WORD = re.compile(r"[0-9a-zà-öø-ÿāūğışçñǵńа-яёәғқңөұүһі%]+", re.IGNORECASE)
_LATIN_WORD = re.compile(r"^[a-zà-öø-ÿāūğışçñǵń]+$")


@dataclass(frozen=True, slots=True)
class Document:
    """One thing a question can be matched to: a clause, a FAQ entry, a not-covered topic."""

    kind: str
    id: str
    questions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    titles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.id)


@dataclass(frozen=True, slots=True)
class DocMatch:
    """How close a question is to one document: best cosine per source (0 when none)."""

    kind: str
    id: str
    question: float
    title: float
    text: float
    # share of the question's content words found (by their first letters) in the closest
    # example question or title: a match on "what is distance learning" explains little of
    # "what is the tutor's role in distance learning"
    explained: float = 0.0

    @property
    def best(self) -> float:
        return max(self.question, self.title, self.text)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Per document kind, the documents best first by ``DocMatch.best``."""

    by_kind: dict[str, list[DocMatch]]

    def top(self, kind: str) -> list[DocMatch]:
        return self.by_kind.get(kind, [])

    def get(self, kind: str, doc_id: str) -> DocMatch | None:
        return next((m for m in self.by_kind.get(kind, []) if m.id == doc_id), None)


def normalise(text: str) -> str:
    """Lower-case, Kazakh letters folded onto Russian ones, words separated by one space."""
    text = unicodedata.normalize("NFKC", text)
    return " ".join(fold(w) for w in _WORD.findall(text))


def ngrams(text: str) -> dict[str, int]:
    """Character n-grams of each word padded with spaces ("char_wb"), with their counts."""
    out: dict[str, int] = defaultdict(int)
    for word in text.split():
        padded = f" {word} "
        n_max = min(NGRAM_MAX, len(padded))
        for n in range(NGRAM_MIN, n_max + 1):
            for i in range(len(padded) - n + 1):
                out[padded[i : i + n]] += 1
        if len(padded) < NGRAM_MIN:
            out[padded] += 1
    return out


class NgramIndex:
    """TF-IDF (sublinear tf, l2-normalised) over character n-grams of every entry."""

    def __init__(self) -> None:
        self.docs: list[Document] = []
        self._vocab: dict[str, int] = {}
        self._idf = np.zeros(0, dtype=np.float32)
        self._indptr = np.zeros(1, dtype=np.int64)  # per n-gram: slice of the postings
        self._rows = np.zeros(0, dtype=np.int32)  # entry of each posting
        self._vals = np.zeros(0, dtype=np.float32)  # its weight (tf-idf, normalised)
        self._entry_doc = np.zeros(0, dtype=np.int32)
        self._entry_source = np.zeros(0, dtype=np.int8)
        self._latin_words: frozenset[str] = frozenset()  # English words of the entries
        self._entry_prefixes: list[frozenset[str]] = []  # per entry: its words' prefixes
        self._doc_short_entries: list[np.ndarray] = []  # per document: question/title entries

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(cls, documents: Iterable[Document]) -> NgramIndex:
        index = cls()
        index.docs = list(documents)
        entries: list[tuple[int, int, str]] = []  # (doc, source, normalised text)
        latin: set[str] = set()
        for d, doc in enumerate(index.docs):
            for lang in LANGS:
                for q in doc.questions.get(lang, ()):
                    entries.append((d, SOURCE_QUESTION, normalise(q)))
                for t in doc.titles.get(lang, ()):
                    entries.append((d, SOURCE_TITLE, normalise(t)))
                text = doc.texts.get(lang)
                if text:
                    entries.append((d, SOURCE_TEXT, normalise(text)))
            for q in doc.questions.get("en", ()):
                latin.update(normalise(q).split())
            for t in (*doc.titles.get("en", ()), doc.texts.get("en", "")):
                latin.update(normalise(t).split())
        index._latin_words = frozenset(w for w in latin if _LATIN_WORD.match(w))
        # Flat (entry, n-gram, count) triples in typed arrays: no Python object per posting,
        # so building stays fast and lean as the index grows (a FAQ of thousands of entries).
        vocab: dict[str, int] = {}
        rows, cols, counts = array("i"), array("i"), array("f")
        for e, (_, _, text) in enumerate(entries):
            for key, count in ngrams(text).items():
                rows.append(e)
                cols.append(vocab.setdefault(key, len(vocab)))
                counts.append(count)
        row_arr = np.frombuffer(rows, dtype=np.int32)
        col_arr = np.frombuffer(cols, dtype=np.int32)
        n = max(1, len(entries))
        df = np.bincount(col_arr, minlength=len(vocab)).astype(np.float32)
        idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        weights = (1.0 + np.log(np.frombuffer(counts, dtype=np.float32))) * idf[col_arr]
        norms = np.sqrt(np.bincount(row_arr, weights=weights * weights, minlength=n))
        weights = (weights / np.maximum(norms[row_arr], 1e-9)).astype(np.float32)
        order = np.argsort(col_arr, kind="stable")  # postings grouped by n-gram
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(col_arr, minlength=len(vocab)))
        index._rows = row_arr[order].copy()
        index._vals = weights[order]
        index._indptr = indptr
        index._vocab = vocab
        index._idf = idf
        index._entry_doc = np.array([d for d, _, _ in entries], dtype=np.int32)
        index._entry_source = np.array([s for _, s, _ in entries], dtype=np.int8)
        index._entry_prefixes = [
            frozenset(_prefix(w) for w in text.split()) if source != SOURCE_TEXT else frozenset()
            for _, source, text in entries
        ]
        short: list[list[int]] = [[] for _ in index.docs]
        for e, (d, source, _) in enumerate(entries):
            if source != SOURCE_TEXT:
                short[d].append(e)
        index._doc_short_entries = [np.array(x, dtype=np.int64) for x in short]
        return index

    @property
    def size(self) -> int:
        return int(self._entry_doc.shape[0])

    # --- searching -------------------------------------------------------------------------

    def _readings(self, text: str) -> list[str]:
        """The question, and for Latin words that are not English, its Cyrillic readings."""
        base = normalise(text)
        words = base.split()
        foreign = [
            w for w in words if _LATIN_WORD.match(w) and w not in self._latin_words and len(w) > 2
        ]
        if not foreign:
            return [base]
        readings = [base]
        for lang in ("kk", "ru"):
            readings.append(
                " ".join(transliterate(w, lang) if w in foreign else w for w in words)
            )
        return readings

    def _cosines(self, text: str) -> np.ndarray:
        g = ngrams(text)
        cols: list[int] = []
        weights: list[float] = []
        for key, count in g.items():
            col = self._vocab.get(key)
            if col is None:
                continue
            cols.append(col)
            weights.append((1.0 + math.log(count)) * float(self._idf[col]))
        if not cols:
            return np.zeros(self.size, dtype=np.float32)
        # unknown n-grams still count in the query's norm (as the rarest known n-gram): a
        # question mostly made of words the index never saw is far from every entry
        top_idf = float(self._idf.max(initial=1.0))
        unknown_sq = sum(
            ((1.0 + math.log(c)) * top_idf) ** 2 for k, c in g.items() if k not in self._vocab
        )
        w = np.asarray(weights, dtype=np.float32)
        w /= math.sqrt(float(w @ w) + unknown_sq) or 1.0
        col_arr = np.asarray(cols, dtype=np.int64)
        starts = self._indptr[col_arr]
        lengths = self._indptr[col_arr + 1] - starts
        total = int(lengths.sum())
        # the postings of every query n-gram, gathered without a Python loop
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        idx = offsets + np.arange(total)
        qw = np.repeat(w, lengths)
        return np.bincount(
            self._rows[idx], weights=qw * self._vals[idx], minlength=self.size
        ).astype(np.float32)

    def _explained(self, words: list[set[str]], sims: np.ndarray, doc: int) -> float:
        """Share of the question's content words in the document's closest short entry."""
        entries = self._doc_short_entries[doc]
        if not words or entries.size == 0:
            return 0.0
        prefixes = self._entry_prefixes[int(entries[int(np.argmax(sims[entries]))])]
        return sum(1 for readings in words if readings & prefixes) / len(words)

    def search(self, text: str, k: int = 10) -> MatchResult:
        sims = None
        readings = self._readings(text)
        for reading in readings:
            cos = self._cosines(reading)
            sims = cos if sims is None else np.maximum(sims, cos)
        assert sims is not None
        stop = _stop_words()
        # per content word of the question: the prefixes of its readings
        split = [r.split() for r in readings]
        words = [
            {_prefix(r[i]) for r in split if i < len(r)}
            for i, w in enumerate(split[0])
            if w not in stop and len(w) >= 3
        ]
        n_docs = len(self.docs)
        best = np.zeros((3, n_docs), dtype=np.float32)
        for source in (SOURCE_QUESTION, SOURCE_TITLE, SOURCE_TEXT):
            mask = self._entry_source == source
            np.maximum.at(best[source], self._entry_doc[mask], sims[mask])
        overall = best.max(axis=0)
        by_kind: dict[str, list[DocMatch]] = defaultdict(list)
        order = np.argsort(-overall, kind="stable")
        for d in order:
            doc = self.docs[int(d)]
            bucket = by_kind[doc.kind]
            if len(bucket) >= k:
                continue
            bucket.append(
                DocMatch(
                    kind=doc.kind,
                    id=doc.id,
                    question=round(float(best[SOURCE_QUESTION, d]), 4),
                    title=round(float(best[SOURCE_TITLE, d]), 4),
                    text=round(float(best[SOURCE_TEXT, d]), 4),
                    explained=round(self._explained(words, sims, int(d)), 4),
                )
            )
        return MatchResult(dict(by_kind))


def _prefix(word: str) -> str:
    return word[:PREFIX_LEN]


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset().union(*stopwords().values())


# --- the regulation's documents ----------------------------------------------------------------


def load_question_bank(
    directory: Path = QUESTIONS_DIR,
) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, list[str]]]]:
    """(questions per clause per language, not-covered questions per topic per language)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    clauses: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    topics: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            items = yaml.load(fh, Loader=loader) or []
        for item in items:
            target = (
                clauses[str(item["clause"])] if "clause" in item else topics[str(item["topic"])]
            )
            for lang in LANGS:
                target[lang].extend(str(q) for q in item.get(lang) or ())
    return (
        {k: dict(v) for k, v in clauses.items()},
        {k: dict(v) for k, v in topics.items()},
    )


def regulation_documents(regulation: Iterable[object]) -> list[Document]:
    """Clause documents (bank questions, title and aliases, text) and not-covered topics."""
    bank, topics = load_question_bank()
    docs: list[Document] = []
    for clause in regulation:
        cid: str = clause.id  # type: ignore[attr-defined]
        title: dict[str, str] = clause.title  # type: ignore[attr-defined]
        aliases: dict[str, tuple[str, ...]] = clause.aliases  # type: ignore[attr-defined]
        text: dict[str, str] = clause.text  # type: ignore[attr-defined]
        docs.append(
            Document(
                kind="clause",
                id=cid,
                questions=bank.get(cid, {}),
                titles={lang: [title.get(lang, ""), *aliases.get(lang, ())] for lang in LANGS},
                texts={lang: text.get(lang, "") for lang in LANGS if text.get(lang, "") != cid},
            )
        )
    for topic, questions in topics.items():
        docs.append(Document(kind="not_covered", id=topic, questions=questions))
    return docs


__all__ = [
    "DocMatch",
    "Document",
    "MatchResult",
    "NgramIndex",
    "load_question_bank",
    "ngrams",
    "normalise",
    "regulation_documents",
]
