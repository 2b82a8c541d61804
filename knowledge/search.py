"""Clause search over Regulation No. 066 in Kazakh, Russian and English.

``KnowledgeIndex.build(regulation, programmes)`` runs once at start-up (a few hundred ms);
``index.search(question, lang)`` is sync and takes well under a millisecond of CPU for a
typical question, so handlers may call it directly from the event loop.

Ranking:

* BM25F per language over a clause's title, aliases, text, its parent's title (weak context)
  and, where the clause rules on directions of training, their names from the programme
  catalogue. Per-term contributions are precomputed at build time, so a query is a few dict
  lookups;
* terms are folded (``textnorm.fold``: Kazakh letters and their Russian look-alikes meet) and
  stemmed (Snowball for ru/en, an ending stripper for kk), with a 5-letter prefix as a second,
  weaker term and adjacent-word pairs as a third, so Kazakh and Russian endings still meet;
* Latin-typed Kazakh/Russian is transliterated, unknown words are typo-corrected against the
  index vocabulary with rapidfuzz, and synonyms and abbreviations (``data/synonyms.yaml``) add
  their concept's canonical wording in all three languages;
* the language of the question counts fully, the other two at ``_LANG_OTHER`` (mixed
  questions and shared words still help); clauses with items are damped so the item is cited
  (5.4.5, not 5.4); definitions (section 3) win "what is X?" questions and are damped in others.

``SearchResult.confidence`` (0..1) is half how strong the best score is and half how much of
the question (its meaningful words, weighted by rarity) the best clause explains; an unknown
word of six letters or more weighs as a word in no clause (more than any indexed word), so a
question about the dormitory that shares one word with a clause is not explained by it.
Below ``CONFIDENCE_THRESHOLD`` the caller should say "I am not sure" rather than cite a clause,
and, when ``SearchResult.on_topic`` is false too (no clause matches fully, or under
``ON_TOPIC_VOCABULARY`` of the question is the regulation's vocabulary), that the regulation
does not cover the question.
``Hit.score`` is the raw ranking score: comparable within one search only.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.programmes import Category, DLCap, ProgrammeCatalog
from knowledge.regulation import Clause, Regulation
from knowledge.textnorm import (
    LANGS,
    Token,
    detect_script,
    fold,
    has_kazakh_letters,
    load_data,
    stemmers,
    stopwords,
    tokenize,
    transliterate,
)

CONFIDENCE_THRESHOLD = 0.65
"""Answer from the top hit at or above this confidence; below it, say you are not sure."""
ON_TOPIC_VOCABULARY = 0.3
"""Below this share of regulation vocabulary a question that is not confident is out of scope
(checked on bench/data/paraphrases.jsonl, bench/data/out_of_scope.jsonl and the in-scope sets:
every in-scope question left unsure stays above it)."""

# BM25F parameters: field weight and length normalisation.
_K1 = 1.2
_FIELDS: dict[str, tuple[float, float]] = {
    "title": (2.5, 0.3),
    "aliases": (1.6, 0.3),
    "text": (1.0, 0.75),
    "context": (0.35, 0.3),
    "programmes": (0.7, 0.0),
}
_PREFIX_LEN = 5
_W_STEM = 1.0
_W_PREFIX = 0.45
_W_BIGRAM = 0.6
_W_FUZZY = 0.8
_FUZZY_BUDGET = 24
_WORD_CACHE = 4000  # (token, language) analyses kept: ~1,300 words in three languages (~1.5 MB)
_FUZZY_COVERAGE = 0.6  # a typo-corrected word explains the question less surely
_W_SYNONYM = 0.8
_LANG_PRIMARY = 1.0
_LANG_OTHER = 0.4
_PARENT_FACTOR = 0.8
_UNKNOWN_WORD_IDF = 3.0
# An unknown word at least this long is a content word no clause contains ("общежитие",
# "canteen", "стипендия"): it names what the question is about, so it weighs as BM25 weighs a
# term found in no document. Shorter unknown tokens are mostly chat filler, particles and clipped
# slang ("еду", "ozi", "пж") and keep the lighter _UNKNOWN_WORD_IDF.
_TOPIC_WORD_LEN = 6
_NUMBERS_ONLY_CONFIDENCE = 0.3
# confidence = half "how strong is the best clause's score" (0 at _WEAK_SCORE, 1 from
# _STRONG_SCORE) and half "how much of the question does it explain" (idf-weighted share of the
# meaningful words it matches; unknown words weigh as above). Calibrated on the dev set,
# bench/data/paraphrases.jsonl and its out-of-scope questions; the unknown-word weight was
# checked on bench/data/out_of_scope.jsonl and the in-scope sets.
_WEAK_SCORE = 2.0
_STRONG_SCORE = 10.0


_new_tuple = tuple.__new__


class Hit(NamedTuple):
    clause_id: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    confidence: float
    detected_lang: str
    # The two halves of ``confidence`` and the vocabulary signal, each 0..1. A result built
    # without them (a test stub) counts as on topic whenever it has hits.
    strength: float = 1.0  # how strong the best score is (1 from _STRONG_SCORE)
    coverage: float = 1.0  # idf-weighted share of the question the best clause explains
    # idf-weighted share of the question's meaningful words that the regulation's vocabulary
    # knows at all, in any language (exact stems, synonyms; typo-corrected words count less,
    # unknown words weigh as a word no clause contains): low means another topic
    vocabulary: float = 1.0

    @property
    def top(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    @property
    def confident(self) -> bool:
        return bool(self.hits) and self.confidence >= CONFIDENCE_THRESHOLD

    @property
    def on_topic(self) -> bool:
        """Whether a question that is not ``confident`` still belongs to the regulation: the
        best clause matches fully (full strength) and at least ``ON_TOPIC_VOCABULARY`` of the
        question is the regulation's vocabulary. Off topic, the caller should say the
        regulation does not cover it instead of offering unrelated clauses."""
        return bool(self.hits) and self.strength >= 1.0 and self.vocabulary >= ON_TOPIC_VOCABULARY


_NO_CONTRIB: dict[int, float] = {}  # a term no clause has (never written to)
_Terms = tuple[tuple[str, float], ...]
# (terms, stem, word), or for an unknown word also (fuzzy terms, fuzzy stem): see _analyse_word
_WordTerms = tuple[_Terms, str | None, str] | tuple[_Terms, str | None, str, _Terms, str | None]
# One reading of a query word in a language (see _word_terms): (terms, stem, word, synonym key,
# the concept that key alone names)
_Reading = tuple[_Terms, str | None, str, str | None, int | None]
# What the word cache keeps: a _Reading, or for an unknown word also the typo-corrected one's
# (terms, stem, synonym key, concept) after it
_CachedWord = (
    _Reading
    | tuple[
        _Terms, str | None, str, str | None, int | None, _Terms, str | None, str | None, int | None
    ]
)


@dataclass(slots=True)
class _Unit:
    """One meaningful query word and the weighted terms it produced, per language."""

    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    known_idf: float = 0.0
    fuzzy: bool = False  # known only through typo correction
    length: int = 0  # letters of the word as typed (folded)


@dataclass(slots=True)
class _LangIndex:
    contrib: dict[str, dict[int, float]]
    idf: dict[str, float]
    surface: dict[str, str]  # folded word -> stem
    # (first letter, word length) -> words with that first letter within ±2 letters of length
    by_length: dict[tuple[str, int], list[str]]
    stems: frozenset[str]
    # ``contrib`` as flat arrays (a CSR matrix, term by term): a query gathers its terms'
    # postings and sums them per clause in one ``np.bincount``, in the same order as the dicts
    term_row: dict[str, int] = field(default_factory=dict)
    indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    docs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @classmethod
    def of(
        cls,
        contrib: dict[str, dict[int, float]],
        idf: dict[str, float],
        surface: dict[str, str],
        by_length: dict[tuple[str, int], list[str]],
        stems: frozenset[str],
    ) -> _LangIndex:
        term_row = {term: row for row, term in enumerate(contrib)}
        lengths = [len(postings) for postings in contrib.values()]
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(lengths, dtype=np.int64)
        docs = np.fromiter(
            (d for postings in contrib.values() for d in postings), np.int64, int(indptr[-1])
        )
        values = np.fromiter(
            (v for postings in contrib.values() for v in postings.values()),
            np.float64,
            int(indptr[-1]),
        )
        return cls(contrib, idf, surface, by_length, stems, term_row, indptr, docs, values)


def _programme_names(catalog: ProgrammeCatalog) -> dict[str, dict[str, list[str]]]:
    """Direction names and aliases per clause that rules on them, per language."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for direction in catalog.directions:
        targets: list[str] = []
        if direction.appendix_1:
            targets.append("appendix-1")
        if direction.category is Category.PEDAGOGICAL:
            targets.append("5.4.6")
        if direction.category is Category.LAW:
            targets.append("5.4.5")
        if direction.category is Category.GENERAL:
            targets.append("5.4.7")
        music = [a for a, cap in direction.cap_by_alias.items() if cap is DLCap.TWENTY]
        for lang in LANGS:
            names = {direction.name_in(lang), *direction.aliases.get(lang, ())}
            for target in targets:
                out[target][lang].update(names)
            out["5.4.5"][lang].update(music)
    return {cid: {lang: sorted(v) for lang, v in by.items()} for cid, by in out.items()}


_MAX_WORD = 30


def _length_windows(words: Iterable[str]) -> dict[tuple[str, int], list[str]]:
    """Candidates for typo correction: same first letter (typos rarely hit it) and a length
    within two letters (a ratio of 72+ rules out longer gaps)."""
    by_key: dict[tuple[str, int], list[str]] = defaultdict(list)
    for w in sorted(words):
        by_key[(w[:1], min(len(w), _MAX_WORD))].append(w)
    letters = {first for first, _ in by_key}
    return {
        (first, n): [
            w
            for m in range(max(1, n - 2), min(_MAX_WORD, n + 2) + 1)
            for w in by_key.get((first, m), ())
        ]
        for first in letters
        for n in range(1, _MAX_WORD + 1)
    }


def _prefix(word: str) -> str | None:
    return "~" + word[:_PREFIX_LEN] if len(word) > _PREFIX_LEN and not word.isdigit() else None


class KnowledgeIndex:
    """Search index over the regulation's clauses; build once, search many times."""

    def __init__(self) -> None:
        self.clause_ids: list[str] = []
        self._parent_factor: list[float] = []
        self._sections: list[str] = []
        self._langs: dict[str, _LangIndex] = {}
        self._stem = stemmers()
        self._stop = stopwords()
        self._all_stop: frozenset[str] = frozenset().union(*self._stop.values())
        # per language: form as stems -> (concept, prefix a one-word form must start with)
        self._synonyms: dict[str, dict[tuple[str, ...], list[tuple[int, str]]]] = {}
        self._abbrevs: dict[str, set[str]] = {}
        self._syn_stems: dict[str, frozenset[str]] = {}  # per language: stems of synonym forms
        # per language: first words of the forms of two or more words
        self._syn_firsts: dict[str, frozenset[str]] = {}
        self._syn_terms: list[dict[str, list[str]]] = []
        self._fuzzy_cache: dict[tuple[str, str, float], str | None] = {}
        # per (token, language): its analysis before the typo-correction budget (issue 18: the
        # words of questions repeat; at most _WORD_CACHE, a few MB)
        self._word_cache: dict[tuple[Token, str], _CachedWord] = {}
        self._vote_cache: dict[Token, tuple[tuple[str, float], ...]] = {}  # see _votes
        self._programme_names: dict[str, dict[str, list[str]]] = {}
        self._def_section = ""
        self._def_factor = 1.0
        self._def_other = 1.0
        self._def_max_words = 0
        self._def_bare_words = 0
        self._def_markers: list[tuple[str, ...]] = []
        self._def_by_first: dict[str, list[tuple[str, ...]]] = {}
        self._def_words: frozenset[str] = frozenset()
        self._def_quantity = 1.0
        self._quantity_by_first: dict[str, list[tuple[str, ...]]] = {}
        self._unseen_idf = _UNKNOWN_WORD_IDF  # set by build() from the number of clauses
        self._parent_factors = np.zeros(0, dtype=np.float64)  # _parent_factor, as an array
        self._def_docs = np.zeros(0, dtype=bool)  # the clauses of the definitions' section
        # every language's postings in one CSR matrix (see _join_languages)
        self._row_base: list[int] = [0] * len(LANGS)
        self._all_indptr = np.zeros(1, dtype=np.int64)
        self._all_docs = np.zeros(0, dtype=np.int64)
        self._all_values = np.zeros(0, dtype=np.float64)
        self._all_bins = np.zeros(0, dtype=np.int64)

    def _is_stop(self, tok: Token, word: str | None = None) -> bool:
        """A stop word in any language, except that a word with Kazakh letters is only checked
        against Kazakh ones (Kazakh «із», a trace, is not Russian «из», from)."""
        stop = self._stop["kk"] if has_kazakh_letters(tok.raw) else self._all_stop
        return tok.norm in stop or (word is not None and word in stop)

    # --- building ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        regulation: Regulation | Iterable[Clause],
        programmes: ProgrammeCatalog | None = None,
    ) -> KnowledgeIndex:
        """Index every clause; ``programmes`` adds direction names to the clauses that rule
        on them (Appendix 1 names to ``appendix-1``; law, music and choreography to ``5.4.5``,
        pedagogical directions to ``5.4.6``, all others to ``5.4.7``), so "public health
        online?" finds Appendix 1 and "economics, how many subjects remotely?" finds 5.4.7."""
        index = cls()
        clauses = list(regulation)
        index._programme_names = _programme_names(programmes) if programmes else {}
        by_id = {c.id: c for c in clauses}
        has_children = {c.parent for c in clauses if c.parent}
        index.clause_ids = [c.id for c in clauses]
        index._parent_factor = [_PARENT_FACTOR if c.id in has_children else 1.0 for c in clauses]
        index._sections = [c.section for c in clauses]
        for lang in LANGS:
            index._langs[lang] = index._build_lang(clauses, by_id, lang)
        index._build_synonyms()
        index._join_languages()
        index._parent_factors = np.asarray(index._parent_factor, dtype=np.float64)
        index._def_docs = np.asarray(
            [s == index._def_section for s in index._sections], dtype=bool
        )
        n = len(clauses)
        index._unseen_idf = math.log(1.0 + (n + 0.5) / 0.5)  # BM25 idf of a word in no clause
        return index

    def _doc_terms(self, text: str, lang: str, surface: dict[str, str]) -> list[str]:
        terms: list[str] = []
        prev: str | None = None
        for tok in tokenize(text):
            word = tok.norm
            if tok.upper and self._is_stop(tok):
                stem = "#" + word  # "IT", "ДО" in capitals: an abbreviation, not "it", "до"
                terms.append(stem)
            elif self._is_stop(tok) or (len(word) < 2 and not word.isdigit() and word != "%"):
                continue
            else:
                stem = self._stem.stem(word, lang)
                surface.setdefault(word, stem)
                terms.append(stem)
                pre = _prefix(word)
                if pre:
                    terms.append(pre)
            if prev is not None:
                terms.append(prev + "_" + stem)
            prev = stem
        return terms

    def _build_lang(
        self, clauses: list[Clause], by_id: dict[str, Clause], lang: str
    ) -> _LangIndex:
        surface: dict[str, str] = {}
        docs: list[dict[str, dict[str, int]]] = []
        lengths: dict[str, list[int]] = {f: [] for f in _FIELDS}
        for clause in clauses:
            parent = by_id.get(clause.parent) if clause.parent else None
            fields = {
                "programmes": "\n".join(self._programme_names.get(clause.id, {}).get(lang, ())),
                "title": clause.title.get(lang, ""),
                "aliases": "\n".join(clause.aliases.get(lang, ())),
                "text": clause.text.get(lang, ""),
                "context": parent.title.get(lang, "") if parent else "",
            }
            doc: dict[str, dict[str, int]] = {}
            for name, text in fields.items():
                counts: dict[str, int] = defaultdict(int)
                terms = self._doc_terms(text, lang, surface)
                if name == "programmes":
                    terms = sorted(set(terms))  # a name list: presence, not frequency
                for term in terms:
                    counts[term] += 1
                doc[name] = counts
                lengths[name].append(len(terms))
            docs.append(doc)
        n_docs = len(docs)
        avg = {f: (sum(v) / len(v) if v and sum(v) else 1.0) for f, v in lengths.items()}
        df: dict[str, int] = defaultdict(int)
        for doc in docs:
            for term in {t for counts in doc.values() for t in counts}:
                df[term] += 1
        idf = {t: math.log(1.0 + (n_docs - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        contrib: dict[str, dict[int, float]] = defaultdict(dict)
        for i, doc in enumerate(docs):
            tf: dict[str, float] = defaultdict(float)
            for name, counts in doc.items():
                weight, b = _FIELDS[name]
                norm = 1.0 - b + b * lengths[name][i] / avg[name]
                for term, count in counts.items():
                    tf[term] += weight * count / norm
            for term, value in tf.items():
                contrib[term][i] = idf[term] * value * (_K1 + 1.0) / (_K1 + value)
        stems = frozenset(t for t in df if not t.startswith("~") and "_" not in t)
        return _LangIndex.of(
            contrib=dict(contrib),
            idf=idf,
            surface=surface,
            by_length=_length_windows(surface),
            stems=stems,
        )

    def _build_synonyms(self) -> None:
        """Map each synonym form (as a stem sequence) to its concept's canonical terms."""
        raw = load_data("synonyms.yaml")
        self._synonyms = {lang: {} for lang in LANGS}
        self._syn_terms = []
        for concept in raw.get("concepts", []):
            idx = len(self._syn_terms)
            canonical: dict[str, list[str]] = {}
            for lang in LANGS:
                forms = [str(f) for f in concept.get(lang, []) or []]
                if not forms:
                    continue
                canonical[lang] = [
                    t for t in self._doc_terms(forms[0], lang, {}) if not t.startswith("~")
                ]
                for form in forms:
                    key = self._form_key(form, lang)
                    if key:
                        # one-word forms must also start like the form: stems collide; a
                        # form whose stem is short ("болею" -> "бол") must match whole
                        guard = ""
                        if len(key) == 1 and key[0][0] != "#":
                            guard = fold(form)[:5] if len(key[0]) >= 4 else fold(form)
                        entries = self._synonyms[lang].setdefault(key, [])
                        # every form keeps its guard: "педе" and "педам" share the stem "пед"
                        if (idx, guard) not in entries and all(c != idx or g for c, g in entries):
                            entries.append((idx, guard))
            self._syn_terms.append(canonical)
        self._syn_stems = {
            lang: frozenset(part for key in table for part in key)
            for lang, table in self._synonyms.items()
        }
        self._syn_firsts = {
            lang: frozenset(key[0] for key in table if len(key) > 1)
            for lang, table in self._synonyms.items()
        }
        self._abbrevs = {
            lang: {part for key in table if len(key) > 1 for part in key if part.startswith("#")}
            for lang, table in self._synonyms.items()
        }
        definition = raw.get("definition") or {}
        self._def_section = str(definition.get("section", ""))
        self._def_factor = float(definition.get("factor", 1.0))
        self._def_other = float(definition.get("other_factor", 1.0))
        self._def_max_words = int(definition.get("max_content_words", 0))
        self._def_bare_words = int(definition.get("bare_term_words", 0))
        markers = [
            tuple(t.norm for t in tokenize(str(m)))
            for forms in (definition.get("markers") or {}).values()
            for m in forms
        ]
        self._def_markers = [m for m in markers if m]
        self._def_by_first = defaultdict(list)
        for marker in self._def_markers:
            self._def_by_first[marker[0]].append(marker)
        self._def_words = frozenset(w for m in self._def_markers for w in m)
        self._def_quantity = float(definition.get("quantity_factor", self._def_other))
        self._quantity_by_first = defaultdict(list)
        for forms in (definition.get("quantity_markers") or {}).values():
            for m in forms:
                marker = tuple(t.norm for t in tokenize(str(m)))
                if marker:
                    self._quantity_by_first[marker[0]].append(marker)

    def _form_key(self, form: str, lang: str) -> tuple[str, ...]:
        """The stems a synonym form is matched by; capitals (abbreviations) stay marked.

        A multi-word form that would shrink to one word without its stop words ("how many
        courses") is dropped: one common word must not trigger a whole concept.
        """
        toks = tokenize(form)
        key = tuple(
            "#" + t.norm if t.upper else self._stem.stem(t.norm, lang)
            for t in toks
            if t.upper or not self._is_stop(t)
        )
        if len(toks) > 1 and len(key) < 2:
            return ()
        if len(key) == 1 and not key[0].startswith("#") and len(fold(form)) < 4:
            return ()
        return key

    def _join_languages(self) -> None:
        """The languages' postings one after the other (``_row_base``: each language's first
        row), each posting with its clause and its (language, clause) bin."""
        n_docs = len(self.clause_ids)
        bases: list[int] = []
        indptrs: list[np.ndarray] = []
        docs: list[np.ndarray] = []
        values: list[np.ndarray] = []
        base = offset = 0
        for L in LANGS:
            li = self._langs[L]
            bases.append(base)
            indptrs.append(li.indptr[:-1] + offset)
            docs.append(li.docs)
            values.append(li.values)
            base += len(li.term_row)
            offset += int(li.indptr[-1])
        indptrs.append(np.asarray([offset], dtype=np.int64))
        self._row_base = bases
        self._all_indptr = np.concatenate(indptrs).astype(np.int64)
        self._all_docs = np.concatenate(docs).astype(np.int64)
        self._all_values = np.concatenate(values).astype(np.float64)
        lang_of = np.repeat(np.arange(len(LANGS), dtype=np.int64), [d.size for d in docs])
        self._all_bins = lang_of * n_docs + self._all_docs

    # --- querying --------------------------------------------------------------------------

    def _fuzzy(self, word: str, lang: str, cutoff: float) -> str | None:
        key = (word, lang, cutoff)
        if key in self._fuzzy_cache:
            return self._fuzzy_cache[key]
        li = self._langs[lang]
        found = process.extractOne(
            word,
            li.by_length.get((word[:1], min(len(word), _MAX_WORD)), ()),
            scorer=fuzz.ratio,
            score_cutoff=cutoff,
        )
        result = li.surface[found[0]] if found else None
        if len(self._fuzzy_cache) < 100_000:
            self._fuzzy_cache[key] = result
        return result

    def _word_terms(self, tok: Token, lang: str, budget: list[int]) -> _Reading:
        """Weighted terms of one query token in ``lang``, the stem used for pairs, the word as
        analysed (transliterated when Latin-typed), its synonym key (``#word`` for an
        abbreviation, else the stem; None for none) and the concept that key alone names (None
        for none). A word no clause has is typo-corrected while ``budget`` lasts (one
        correction less each)."""
        key = (tok, lang)
        cached = self._word_cache.get(key)
        if cached is None:
            cached = self._cached_word(tok, lang)
            if len(self._word_cache) >= _WORD_CACHE:
                self._word_cache.clear()  # bounded memory; the frequent words come back first
            self._word_cache[key] = cached
        if len(cached) == 5:
            return cached
        if budget[0] <= 0:
            return cached[0], cached[1], cached[2], cached[3], cached[4]
        budget[0] -= 1
        return cached[5], cached[6], cached[2], cached[7], cached[8]

    def _cached_word(self, tok: Token, lang: str) -> _CachedWord:
        """What the word cache keeps of a token in ``lang``: ``_analyse_word`` and, per
        reading, the synonym key and the concept it alone names (issue 18.1: looked up once
        per word, not in every question's synonym pass)."""
        analysed = self._analyse_word(tok, lang)
        word = analysed[2]
        # an abbreviation: in capitals, or typed in lower case inside a longer form ("центр икт")
        abbreviation = tok.upper or (
            "#" + tok.norm in self._abbrevs[lang] and not self._is_stop(tok)
        )
        table = self._synonyms[lang]

        def single(stem: str | None) -> tuple[str | None, int | None]:
            syn_key = "#" + tok.norm if abbreviation else stem
            if syn_key is None:
                return None, None
            return syn_key, self._synonym(table, (syn_key,), tok, word, lang)

        syn_key, concept = single(analysed[1])
        if len(analysed) == 3:
            return analysed[0], analysed[1], word, syn_key, concept
        fuzzy_key, fuzzy_concept = single(analysed[4])
        return (
            analysed[0],
            analysed[1],
            word,
            syn_key,
            concept,
            analysed[3],
            analysed[4],
            fuzzy_key,
            fuzzy_concept,
        )

    def _analyse_word(self, tok: Token, lang: str) -> _WordTerms:
        """``_word_terms`` without the budget, for the word cache: (terms, stem, word), or for
        a word no clause has (terms, stem, word, the typo-corrected terms, their stem)."""
        li = self._langs[lang]
        word = tok.norm
        translit = False
        if tok.script == "lat" and lang != "en":
            en = self._langs["en"]
            if word in self._stop["en"] or word in en.surface:
                return (), None, word  # an English word, not Latin-typed Kazakh or Russian
            if word not in li.surface:
                word = transliterate(tok.raw, lang)
                translit = True
                if lang == "ru":
                    word = self._latin_russian(word, tok.raw, li)
                other = "ru" if lang == "kk" else "kk"
                if word not in li.surface and transliterate(tok.raw, other) in self._stop[other]:
                    # "uchitsya", "poluchitsya" are Russian stop words; read as Kazakh they
                    # would be unknown topic words (or typo-corrected into one) and sink the
                    # confidence of a Latin-typed Russian question; likewise "qalai" as Russian
                    return (), None, word
        if tok.script == "cyr" and lang == "en" and word not in li.surface:
            return (), None, word
        if (
            tok.script == "lat"
            and lang == "en"
            and word not in li.surface
            and word not in self._stop["en"]
            and any(transliterate(tok.raw, L) in self._stop[L] for L in ("kk", "ru"))
        ):
            return (), None, word  # Latin-typed "mozhno", "skolko", "qalai": a stop word
        if tok.upper and self._is_stop(tok):
            abbr = "#" + tok.norm  # "IT", "ДО" in capitals: an abbreviation
            return (((abbr, _W_STEM),) if abbr in li.stems else ()), None, word
        if self._is_stop(tok, word):
            return (), None, word
        if len(word) < 2 and not word.isdigit() and word != "%":
            return (), None, word
        stem = li.surface.get(word) or self._stem.stem(word, lang)
        if lang == "ru" and stem not in li.stems and len(word) >= 5 and word[-2:] in ("ыи", "ои"):
            # й is folded to и, and Snowball keeps the "ы" of -ыи: "международныи" must meet
            # "международных" as "международный" does (query side only: the index is unchanged)
            restored = self._stem.stem(word[:-1] + "й", lang)
            if restored in li.stems or restored in self._syn_stems[lang]:
                stem = restored
        unknown = (
            stem not in li.stems
            # a word of a synonym form is not a typo: "проктор" must not become "проректор"
            and stem not in self._syn_stems[lang]
            and 4 <= len(word) <= _MAX_WORD
            and not word.isdigit()
        )
        pre = _prefix(word)
        terms = ((stem, _W_STEM), (pre, _W_PREFIX)) if pre else ((stem, _W_STEM),)
        if not unknown:
            return terms, stem, word
        cutoff = 72.0 if translit else (80.0 if len(word) <= 6 else 76.0)
        fixed = self._fuzzy(word, lang, cutoff)
        if fixed is None:
            return terms, stem, word, terms, stem
        fuzzy = ((fixed, _W_FUZZY), (pre, _W_PREFIX)) if pre else ((fixed, _W_FUZZY),)
        return terms, stem, word, fuzzy, fixed

    def _latin_russian(self, word: str, raw: str, li: _LangIndex) -> str:
        """The reading of a Latin-typed Russian word. Two spellings are ambiguous: the final
        soft sign is dropped ("perevestis", "sdat"), and "ts" is ц in "tsentr" but тс in
        "sportsmen", "otslezhivat". An unknown word is read the other way when only that
        reading is a word of the clauses or synonyms."""
        syn = self._syn_stems["ru"]

        def known(candidate: str) -> bool:  # membership in either set; no union built per word
            stem = self._stem.stem(candidate, "ru")
            return stem in li.stems or stem in syn

        if word in li.surface or known(word):
            return word
        readings = [word + "ь"]
        if "ts" in raw.lower():
            split = transliterate(raw.lower().replace("ts", "t|s"), "ru").replace("|", "")
            readings += [split, split + "ь"]
        return next((r for r in readings if known(r)), word)

    def _analyse(self, tokens: list[Token]) -> tuple[list[_Unit], dict[str, dict[str, float]]]:
        """Per token, its weighted terms in each language; per language, the query's terms."""
        units = [_Unit(length=len(tok.norm)) for tok in tokens]
        query: dict[str, dict[str, float]] = {lang: {} for lang in LANGS}

        def add(lang: str, term: str, weight: float, unit: _Unit | None) -> None:
            bag = query[lang]
            if weight > bag.get(term, 0.0):
                bag[term] = weight
            if unit is not None:
                ubag = unit.terms.setdefault(lang, {})
                if weight > ubag.get(term, 0.0):
                    ubag[term] = weight

        exact = {id(unit): False for unit in units}
        budget = [_FUZZY_BUDGET]  # typo corrections per question: bounds the time of junk input
        word_cache = self._word_cache
        for lang in LANGS:
            stems: list[str | None] = []
            words: list[str] = []
            syn_keys: list[str | None] = []
            singles: list[int | None] = []
            bag = query[lang]
            lang_stems = self._langs[lang].stems
            for tok, unit in zip(tokens, units, strict=True):
                # _word_terms(tok, lang, budget), its cache hit inline (issue 18: 3 calls a
                # word); a word not kept yet, or one with a typo-corrected reading (the budget
                # decides which reading), goes through it
                cached = word_cache.get((tok, lang))
                if cached is not None and len(cached) == 5:
                    terms, stem, word, syn_key, single = cached
                else:
                    terms, stem, word, syn_key, single = self._word_terms(tok, lang, budget)
                words.append(word)
                syn_keys.append(syn_key)
                singles.append(single)
                if terms:
                    # add(lang, term, weight, unit) for each term, inlined (issue 18.1: the
                    # question's words make ~50 calls): the same maxima, set in the same order
                    ubag = unit.terms.setdefault(lang, {})
                    for term, weight in terms:
                        if weight > bag.get(term, 0.0):
                            bag[term] = weight
                        if weight > ubag.get(term, 0.0):
                            ubag[term] = weight
                stems.append(stem)
                if terms:
                    if terms[0][1] == _W_FUZZY:
                        unit.fuzzy = unit.fuzzy or not exact[id(unit)]
                    elif terms[0][0] in lang_stems:
                        exact[id(unit)] = True
                        unit.fuzzy = False
            content = [s for s in stems if s is not None]
            for a, b in itertools.pairwise(content):
                add(lang, a + "_" + b, _W_BIGRAM, None)
            # synonyms and abbreviations: longest match first, over content words and caps
            keys: list[str] = []
            owners: list[int] = []
            for i, syn_key in enumerate(syn_keys):
                if syn_key is not None:
                    keys.append(syn_key)
                    owners.append(i)
            table = self._synonyms[lang]
            firsts = self._syn_firsts[lang]
            start = 0
            while start < len(keys):
                matched = 0
                for length in (4, 3, 2, 1):
                    if length == 1:
                        # the concept the word alone names, found once per word (_cached_word)
                        concept = singles[owners[start]]
                    else:
                        if keys[start] not in firsts:
                            continue  # no form of several words starts with this one
                        seq = tuple(keys[start : start + length])
                        if len(seq) < length:
                            continue
                        concept = self._synonym(
                            table, seq, tokens[owners[start]], words[owners[start]], lang
                        )
                    if concept is None:
                        continue
                    for target, syn_terms in self._syn_terms[concept].items():
                        if not syn_terms:
                            continue
                        weight = _W_SYNONYM / math.sqrt(max(1, len(syn_terms)))
                        # add(target, term, weight, unit) for each term and each word of the
                        # form, inlined: the query's bag and each word's get the same maxima,
                        # their terms in the same order
                        tbag = query[target]
                        ubags = [
                            units[owners[j]].terms.setdefault(target, {})
                            for j in range(start, start + length)
                        ]
                        for term in syn_terms:
                            if weight > tbag.get(term, 0.0):
                                tbag[term] = weight
                            for ubag in ubags:
                                if weight > ubag.get(term, 0.0):
                                    ubag[term] = weight
                    matched = length
                    break
                start += matched or 1  # words inside a matched form start no other form
        for unit in units:
            best = 0.0
            for lang, bag in unit.terms.items():
                idf = self._langs[lang].idf
                for term, weight in bag.items():
                    if not term.startswith("~"):
                        value = idf.get(term, 0.0) * weight
                        if value > best:  # max(best, value), without the call
                            best = value
            unit.known_idf = best
        return units, query

    def _synonym(
        self,
        table: dict[tuple[str, ...], list[tuple[int, str]]],
        seq: tuple[str, ...],
        tok: Token,
        word: str,
        lang: str,
    ) -> int | None:
        """The concept a run of query words names, if any."""
        hit = table.get(seq)
        if hit is None and len(seq) == 1 and not tok.upper:
            # the word's own stem, before typo correction moved it to a nearby indexed word
            hit = table.get((self._stem.stem(word, lang),))
        if hit is None and len(seq) == 1 and not tok.upper:
            # an abbreviation typed in lower case ("моок", "вкк"), unless it is a stop word
            # ("до" is "until", not distance learning)
            if not self._is_stop(tok):
                hit = table.get(("#" + tok.norm,))
                if hit is None and word != tok.norm:
                    # typed in Latin: "gia", "vkk" are ГИА, ВКК as transliterated
                    hit = table.get(("#" + word,))
        if hit is None:
            return None
        for concept, guard in hit:
            if not guard or word.startswith(guard):
                return concept
        return None  # a stem collision: "курс" is not "курсера"

    def detect_language(self, text: str, hint: str | None = None) -> str:
        """``kk``, ``ru`` or ``en``: Kazakh letters, then which vocabulary the words belong to
        (Latin words also as transliterated Kazakh/Russian); ``hint`` breaks ties."""
        tokens = tokenize(text)
        return self._detect(tokens, text, hint)

    def _votes(self, tok: Token) -> tuple[tuple[str, float], ...]:
        """The language votes one token casts (kept per token, like ``_word_terms``)."""
        votes = self._vote_cache.get(tok)
        if votes is not None:
            return votes
        out: list[tuple[str, float]] = []
        cands: tuple[str, ...] = ()
        if has_kazakh_letters(tok.raw):
            out.append(("kk", 2.0))
        elif tok.script == "cyr":
            cands = ("kk", "ru")
        elif tok.script == "lat":
            cands = LANGS
        for lang in cands:
            word = tok.norm
            if tok.script == "lat" and lang != "en":
                word = transliterate(tok.raw, lang)
            li = self._langs[lang]
            if word in self._stop[lang]:
                out.append((lang, 1.0))
            elif word in li.surface or self._stem.stem(word, lang) in li.stems:
                out.append((lang, 0.8))
        votes = tuple(out)
        if len(self._vote_cache) >= _WORD_CACHE:
            self._vote_cache.clear()
        self._vote_cache[tok] = votes
        return votes

    def _detect(self, tokens: list[Token], text: str, hint: str | None) -> str:
        votes = dict.fromkeys(LANGS, 0.0)
        for tok in tokens:
            for lang, vote in self._votes(tok):
                votes[lang] += vote
        best = max(votes.values())
        if best > 0:
            tied = [lang for lang in LANGS if votes[lang] == best]
            if hint in tied:
                return hint
            if len(tied) == 1:
                return tied[0]
            script = detect_script(text)
            if script == "lat" and "en" in tied:
                return "en"
            if "ru" in tied and script == "cyr":
                return "ru"
            return tied[0]
        if hint in LANGS:
            return hint
        return "en" if detect_script(text) == "lat" else "ru"

    def search(self, query: str, lang: str | None = None, k: int = 5) -> SearchResult:
        """Rank clauses for a free-text question; ``lang`` is the user's interface language,
        used when the text does not show its own. Long input is cut to 1,000 characters."""
        query = query[:1000]
        seen: set[str] = set()
        tokens = []
        for tok in tokenize(query):  # a word said twice is still one word
            if tok.norm not in seen:
                seen.add(tok.norm)
                tokens.append(tok)
        tokens = tokens[:60]
        detected = self._detect(tokens, query, lang)
        if not tokens or not self.clause_ids:
            return SearchResult(
                hits=[],
                confidence=0.0,
                detected_lang=detected,
                strength=0.0,
                coverage=0.0,
                vocabulary=0.0,
            )
        units, bags = self._analyse(tokens)
        n_docs = len(self.clause_ids)
        # per clause: the sum, language by language, of its terms' weight × contribution, term
        # by term in the query's order (np.bincount adds in index order: the same sums, to the
        # bit, as a loop over the postings); a clause none of the terms names has no score
        # the postings of every language's terms in one gather and one np.bincount over
        # (language, clause) bins: each bin adds its postings in the same order as a bincount
        # of that language alone, and the languages are then added in LANGS order as before
        rows: list[int] = []
        weights: list[float] = []
        used: list[int] = []
        for n_lang, L in enumerate(LANGS):
            row_of = self._langs[L].term_row
            base = self._row_base[n_lang]
            before = len(rows)
            for term, weight in bags[L].items():
                row = row_of.get(term)
                if row is not None:
                    rows.append(base + row)
                    weights.append(weight)
            if len(rows) > before:
                used.append(n_lang)
        if not rows:
            return SearchResult(
                hits=[],
                confidence=0.0,
                detected_lang=detected,
                strength=0.0,
                coverage=0.0,
                vocabulary=0.0,
            )
        row_arr = np.asarray(rows, dtype=np.int64)
        starts = self._all_indptr[row_arr]
        lengths = self._all_indptr[row_arr + 1] - starts
        ends = np.cumsum(lengths)  # where each term's postings end among the gathered ones
        total = int(ends[-1])
        offsets = np.repeat(starts - (ends - lengths), lengths)
        idx = offsets + np.arange(total)
        values = np.repeat(np.asarray(weights, dtype=np.float64), lengths) * self._all_values[idx]
        sums = np.bincount(
            self._all_bins[idx], weights=values, minlength=len(LANGS) * n_docs
        ).reshape(len(LANGS), n_docs)
        scores = np.zeros(n_docs, dtype=np.float64)
        for n_lang in used:
            factor = _LANG_PRIMARY if LANGS[n_lang] == detected else _LANG_OTHER
            scores += factor * sums[n_lang]
        present = np.zeros(n_docs, dtype=bool)
        present[self._all_docs[idx]] = True
        scores *= self._parent_factors
        factor = (
            self._def_factor if self._is_definition_question(tokens, units) else self._def_other
        )
        if self._has_marker(tokens, self._quantity_by_first):
            factor = self._def_quantity  # "how many / what %": a definition states no amount
        scores[self._def_docs] *= factor
        found = np.flatnonzero(present)
        found_scores = scores[found]
        # best first, ties by clause order (what sorting by (-score, clause) gives)
        order = np.lexsort((found, -found_scores))[: max(k, 1)]
        ranked = list(zip(found[order].tolist(), found_scores[order].tolist(), strict=True))
        # Hit(...) without its Python-level __new__: the same tuples
        hits = [_new_tuple(Hit, (self.clause_ids[d], round(s, 4))) for d, s in ranked]
        confidence, strength, coverage, vocabulary = self._confidence(units, ranked)
        if all(tok.script == "num" for tok, unit in zip(tokens, units, strict=True) if unit.terms):
            confidence = min(confidence, _NUMBERS_ONLY_CONFIDENCE)  # "3", "20 %": no question
        return SearchResult(
            hits=hits,
            confidence=confidence,
            detected_lang=detected,
            strength=strength,
            coverage=coverage,
            vocabulary=vocabulary,
        )

    @staticmethod
    def _has_marker(tokens: list[Token], by_first: dict[str, list[tuple[str, ...]]]) -> bool:
        """Whether one of the markers (folded word sequences) occurs in the question."""
        words = [t.norm for t in tokens]
        return any(
            tuple(words[i : i + len(marker)]) == marker
            for i, word in enumerate(words)
            for marker in by_first.get(word, ())
        )

    def _is_definition_question(self, tokens: list[Token], units: list[_Unit]) -> bool:
        """ "What is X?" with a short X, or a bare term such as "LMS" or "цифрлық із"."""
        marked = self._has_marker(tokens, self._def_by_first)
        content = sum(
            1
            for tok, unit in zip(tokens, units, strict=True)
            if unit.terms and tok.norm not in self._def_words
        )
        if marked:
            return 0 < content <= self._def_max_words
        return 0 < content <= self._def_bare_words

    def _unknown_weight(self, unit: _Unit) -> float:
        """The weight of a word no clause contains, in any language, even after typo fixing."""
        return self._unseen_idf if unit.length >= _TOPIC_WORD_LEN else _UNKNOWN_WORD_IDF

    def _confidence(
        self, units: list[_Unit], ranked: list[tuple[int, float]]
    ) -> tuple[float, float, float, float]:
        """Confidence, its strength and coverage halves, and the vocabulary share."""
        top_doc, top_score = ranked[0]
        total = 0.0
        matched = 0.0
        known = 0.0
        for unit in units:
            if not unit.terms:
                continue  # a stop word in every language
            weight = unit.known_idf if unit.known_idf > 0 else self._unknown_weight(unit)
            total += weight
            if unit.known_idf > 0:
                known += weight * (_FUZZY_COVERAGE if unit.fuzzy else 1.0)
            best = 0.0
            # the largest share any of the word's terms gives the best clause (at most 1.0: once
            # there, no later term can raise it, so the search stops; issue 18)
            for lang, bag in unit.terms.items():
                contrib = self._langs[lang].contrib
                for term, w in bag.items():
                    if top_doc in contrib.get(term, _NO_CONTRIB):
                        if term.startswith("~"):
                            share = 0.5
                        else:
                            share = w / _W_STEM
                            if share > 1.0:
                                share = 1.0
                        if share > best:
                            best = share
                            if best == 1.0:
                                break
                if best == 1.0:
                    break
            if best and unit.fuzzy:
                best *= _FUZZY_COVERAGE
            matched += weight * best
        strength = min(1.0, max(0.0, (top_score - _WEAK_SCORE) / (_STRONG_SCORE - _WEAK_SCORE)))
        if total <= 0:
            return 0.0, round(strength, 4), 0.0, 0.0
        coverage = matched / total
        confidence = 0.5 * strength + 0.5 * coverage
        return (
            round(confidence, 4),
            round(strength, 4),
            round(coverage, 4),
            round(known / total, 4),
        )


__all__ = [
    "CONFIDENCE_THRESHOLD",
    "ON_TOPIC_VOCABULARY",
    "Hit",
    "KnowledgeIndex",
    "SearchResult",
    "fold",
]
