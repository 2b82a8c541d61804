"""The FAQ matcher as it was before issue 18 (a TF-IDF index of its own), kept only so that
``bench/bench_faq_scale.py`` prints its figures as the baseline in the same run.

The bot no longer uses it: FAQ entries and taught questions are documents of the question
matcher (``knowledge.qmatch.NgramIndex``), one index with the clauses. This is the code of
``knowledge/faq.py`` at commit bf5f9c2 (``FaqIndex``, its ``Analyzer``, the concept table),
unchanged but for the imports.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import heapq
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from knowledge.faq import ClauseExample, FaqEntry
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

# Feature weights (before idf): the whole word, its prefix, each trigram, each concept it names.
_W_WORD = 1.0
_W_PREFIX = 0.7
_W_GRAM = 0.55  # a word's trigrams together (spread so a long word does not outweigh a short)
_W_CONCEPT = 1.2
_PREFIX = 5
# Candidate generation: features in more than this share of the variants pick no candidates
# (they still count in the score); at most this many variants are scored in full.
_CANDIDATE_MAX_DF = 0.1
_CANDIDATES = 10  # entries scored in full
_VARIANTS = 2  # of a candidate entry, the variants scored in full
# An entry's score mixes its best variant's similarity with the similarity to all its variants
# pooled (its centroid): one short variant sharing one rare word must not outrank an entry
# whose variants, together, say what the question says.
_W_VARIANT = 0.6
_W_CENTROID = 0.4


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


@dataclass(slots=True)
class _Analysis:
    words: list[str]
    features: dict[str, float]  # feature -> weight before idf


_ANALYSED: dict[tuple[str, str], _Analysis] = {}  # see Analyzer.analyse_cached


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

    def analyse_cached(self, text: str, lang: str) -> _Analysis:
        """``analyse`` for index documents. A text with no Latin word outside English reads the
        same whatever the vocabulary, so its analysis is kept for the next rebuild."""
        if lang != "en" and any(t.script == "lat" for t in tokenize(text)):
            return self.analyse(text, lang)
        key = (text, lang)
        found = _ANALYSED.get(key)
        if found is None:
            found = self.analyse(text, lang)
            if len(_ANALYSED) < 200_000:
                _ANALYSED[key] = found
        return found

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

    def analyse(self, text: str, lang: str | None = None) -> _Analysis:
        words = self.words(text, lang)
        features: dict[str, float] = {}

        def add(feature: str, weight: float) -> None:
            if weight > features.get(feature, 0.0):
                features[feature] = weight

        for word in words:
            add("w:" + word, _W_WORD)
            if len(word) > _PREFIX and not word.isdigit():
                add("p:" + word[:_PREFIX], _W_PREFIX)
            padded = f"<{word}>"
            n = len(padded) - 2
            share = _W_GRAM / math.sqrt(n)
            for i in range(n):
                gram = "g:" + padded[i : i + 3]
                features[gram] = features.get(gram, 0.0) + share
        for concept in self.concepts.find(words):
            add(f"c:{concept}", _W_CONCEPT)
        return _Analysis(words, features)


def _vector(
    analysis: _Analysis, idf: Mapping[str, float], unseen: float
) -> tuple[dict[str, float], float]:
    vec = {f: w * idf.get(f, unseen) for f, w in analysis.features.items()}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    return vec, norm


# --- the FAQ index ----------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.;:!?])\s+|\n+")


def _document_frequencies(
    texts: tuple[tuple[str, str], ...], analyzer: Analyzer
) -> tuple[int, dict[str, int]]:
    df: dict[str, int] = defaultdict(int)
    for lang, text in texts:
        for feature in analyzer.analyse(text, lang).features:
            df[feature] += 1
    return len(texts), dict(df)


@lru_cache(maxsize=1)
def background_counts() -> tuple[int, dict[str, int]]:
    """How many background documents there are, and each feature's count among them (once
    per process: every rebuild of the index reuses them)."""
    return _document_frequencies(background_texts(), Analyzer())


@lru_cache(maxsize=1)
def background_texts() -> tuple[tuple[str, str], ...]:
    """The regulation's titles and sentences in kk/ru/en: the background document frequencies
    of the FAQ's words."""
    from knowledge.regulation import load_regulation

    out: list[tuple[str, str]] = []
    for clause in load_regulation():
        for lang in LANGS:
            out.append((lang, clause.title_in(lang)))
            out += [
                (lang, part)
                for part in _SENTENCE.split(clause.text_in(lang))
                if len(part.split()) >= 3
            ]
    return tuple(out)


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The best entry for a question: its cosine similarity (0..1), the margin over the best
    other entry, and the variant that matched."""

    entry: FaqEntry
    score: float
    margin: float
    variant: str
    variant_lang: str


@dataclass(frozen=True, slots=True)
class ClauseMatch:
    clause_id: str
    score: float
    example: str


@dataclass(slots=True)
class _Doc:
    owner: int  # entry index (or example index)
    lang: str
    text: str
    vec: dict[str, float]


class FaqIndex:
    """Search over FAQ entries' question variants (and staff-taught clause examples).

    A question is scored in two steps so that thousands of entries stay fast: the words,
    prefixes and concepts it shares with each entry's pooled variants (its centroid) pick the
    ``_CANDIDATES`` most promising entries through an inverted index; then only those entries
    are scored in full (every feature, trigrams included), their best variant and their
    centroid together."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.entries: list[FaqEntry] = []
        self.examples: list[ClauseExample] = []
        self._docs: list[_Doc] = []
        self._entry_docs: list[list[_Doc]] = []
        # per entry: word/prefix/concept feature -> (its variant, weight) for the variants
        # that have it
        self._entry_features: list[dict[str, list[tuple[int, float]]]] = []
        self._ex_docs: list[_Doc] = []
        self._idf: dict[str, float] = {}
        self._unseen = 1.0
        self._centroids: list[dict[str, float]] = []  # per entry
        self._postings: dict[str, list[tuple[int, float]]] = {}  # over centroids
        self._ex_postings: dict[str, list[tuple[int, float]]] = {}  # over example docs

    @classmethod
    def build(
        cls,
        entries: Iterable[FaqEntry],
        examples: Iterable[ClauseExample] = (),
        *,
        analyzer: Analyzer | None = None,
        background: Iterable[tuple[str, str]] | None = None,
    ) -> FaqIndex:
        """``background`` (language, text) pairs count only in the document frequencies: the
        regulation's sentences by default, so the words every student question shares with it
        ("university", "learning", "оқу") weigh little and topic words weigh much."""
        entries = list(entries)
        examples = list(examples)
        analyzer = analyzer or Analyzer()
        texts = [entry.texts() for entry in entries]
        for entry_texts in texts:
            for lang, text in entry_texts:
                analyzer.learn(text, lang)
        for ex in examples:
            analyzer.learn(ex.text, ex.lang)
        index = cls(analyzer)
        index.entries = entries
        index.examples = examples
        raw_docs: list[tuple[int, str, str, _Analysis]] = [
            (i, lang, text, analyzer.analyse_cached(text, lang))
            for i, entry_texts in enumerate(texts)
            for lang, text in entry_texts
        ]
        raw_ex = [
            (i, ex.lang, ex.text, analyzer.analyse(ex.text, ex.lang))
            for i, ex in enumerate(examples)
        ]
        df: dict[str, int] = defaultdict(int)
        for *_rest, analysis in raw_docs + raw_ex:
            for feature in analysis.features:
                df[feature] += 1
        extra, background_df = (
            background_counts()
            if background is None
            else _document_frequencies(tuple(background), Analyzer())
        )
        for feature, count in background_df.items():
            df[feature] += count
        n = max(1, len(raw_docs) + len(raw_ex) + extra)
        unseen = math.log(n + 1) + 1.0
        index._idf = {f: math.log((n + 1) / (d + 1)) + 1.0 for f, d in df.items()}
        index._unseen = unseen
        index._docs = index._make_docs(raw_docs)
        index._ex_docs = index._make_docs(raw_ex)
        index._entry_docs = [[] for _entry in entries]
        index._entry_features = [defaultdict(list) for _entry in entries]
        pooled: list[dict[str, float]] = [defaultdict(float) for _entry in entries]
        for doc in index._docs:
            position = len(index._entry_docs[doc.owner])
            index._entry_docs[doc.owner].append(doc)
            local = index._entry_features[doc.owner]
            bag = pooled[doc.owner]
            for feature, value in doc.vec.items():
                bag[feature] += value
                if feature[0] != "g":
                    local[feature].append((position, value))
        for bag in pooled:
            norm = math.sqrt(sum(v * v for v in bag.values()))
            index._centroids.append({f: v / norm for f, v in bag.items()} if norm else {})
        index._postings = _make_postings(index._centroids)
        index._ex_postings = _make_postings([doc.vec for doc in index._ex_docs])
        return index

    def _make_docs(self, raw: list[tuple[int, str, str, _Analysis]]) -> list[_Doc]:
        docs = []
        for owner, lang, text, analysis in raw:
            vec, norm = _vector(analysis, self._idf, self._unseen)
            if norm > 0:
                vec = {f: v / norm for f, v in vec.items()}
            docs.append(_Doc(owner, lang, text, vec))
        return docs

    def __len__(self) -> int:
        return len(self.entries)

    def query_vector(self, text: str, lang: str | None = None) -> dict[str, float]:
        vec, norm = _vector(self.analyzer.analyse(text, lang), self._idf, self._unseen)
        return {f: v / norm for f, v in vec.items()} if norm > 0 else {}

    @staticmethod
    def _candidates(
        query: dict[str, float], postings: dict[str, list[tuple[int, float]]], k: int
    ) -> list[int]:
        partial: dict[int, float] = defaultdict(float)
        for feature, weight in query.items():
            found = postings.get(feature)
            if found:
                for owner, value in found:
                    partial[owner] += weight * value
        if len(partial) <= k:
            return list(partial)
        return heapq.nlargest(k, partial, key=partial.__getitem__)

    def match(self, question: str, lang: str | None = None, k: int = 3) -> list[FaqMatch]:
        """The best ``k`` entries, one each, best first (empty when nothing shares a word)."""
        query = self.query_vector(question, lang)
        if not query or not self.entries:
            return []
        scored: list[tuple[float, int, _Doc]] = []
        keys = [(f, w) for f, w in query.items() if f[0] != "g"]
        for owner in self._candidates(query, self._postings, _CANDIDATES):
            # the variants sharing the most words, prefixes and concepts are scored in full
            local = self._entry_features[owner]
            partial: dict[int, float] = defaultdict(float)
            for feature, weight in keys:
                for position, value in local.get(feature, ()):
                    partial[position] += weight * value
            docs = self._entry_docs[owner]
            chosen = heapq.nlargest(_VARIANTS, partial, key=partial.__getitem__) or range(
                min(_VARIANTS, len(docs))
            )
            best, best_doc = -1.0, None
            for position in chosen:
                doc = docs[position]
                score = _dot(query, doc.vec)
                if score > best:
                    best, best_doc = score, doc
            if best_doc is None:
                continue
            pooled = _dot(query, self._centroids[owner])
            scored.append((_W_VARIANT * best + _W_CENTROID * pooled, owner, best_doc))
        scored.sort(key=lambda item: (-item[0], item[1]))
        out = []
        for n, (score, owner, doc) in enumerate(scored[: max(k, 2)]):
            other = (
                scored[1][0] if n == 0 and len(scored) > 1 else (scored[0][0] if n > 0 else 0.0)
            )
            out.append(
                FaqMatch(
                    entry=self.entries[owner],
                    score=round(min(1.0, score), 4),
                    margin=round(score - other, 4),
                    variant=doc.text,
                    variant_lang=doc.lang,
                )
            )
        return out[:k]

    def best_clause(self, question: str, lang: str | None = None) -> ClauseMatch | None:
        """The staff-taught clause whose example question is nearest, with its similarity."""
        if not self._ex_docs:
            return None
        query = self.query_vector(question, lang)
        if not query:
            return None
        best, best_doc = 0.0, None
        for i in self._candidates(query, self._ex_postings, _CANDIDATES):
            score = _dot(query, self._ex_docs[i].vec)
            if score > best:
                best, best_doc = score, self._ex_docs[i]
        if best_doc is None:
            return None
        example = self.examples[best_doc.owner]
        return ClauseMatch(example.clause_id, round(min(1.0, best), 4), example.text)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two questions (grouping the unanswered questions)."""
        return _dot(self.query_vector(a), self.query_vector(b))


def _dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    get = b.get
    return sum(value * get(feature, 0.0) for feature, value in a.items())


def _make_postings(vectors: list[dict[str, float]]) -> dict[str, list[tuple[int, float]]]:
    """Words, prefixes and concepts -> (vector, weight); trigrams only score, and a feature in
    more than ``_CANDIDATE_MAX_DF`` of the vectors picks no candidates (it still scores)."""
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, vec in enumerate(vectors):
        for feature, value in vec.items():
            if feature[0] != "g":
                postings[feature].append((i, value))
    cap = max(50, int(_CANDIDATE_MAX_DF * max(1, len(vectors))))
    return {f: p for f, p in postings.items() if len(p) <= cap}
