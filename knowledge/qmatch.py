"""Match a question to example questions and document texts by character n-grams.

The clause search (``knowledge.search``) ranks clauses by the words they share with a
question. Students rarely use the regulation's words, so this module adds a second, different
signal: how close the question is to *questions* people ask about each document (the bank in
``knowledge/regulation/questions/``), and to the document's own text, measured as the cosine of
TF-IDF vectors over character n-grams (3–5 letters inside word boundaries, the ``char_wb``
analyser of the IR literature). n-grams meet across Kazakh and Russian endings («оқуға»,
«оқуды»), typos («дистанционка», «дистанцонка») and folded letters without a stemmer.

The index holds *documents* of any kind: a regulation clause (``kind="clause"``), an example
of a question the regulation does not cover (``kind="not_covered"``), a FAQ entry
(``kind="faq"``), the questions staff taught a clause (``kind="taught"``): each document has
example questions and texts per language, and a search reports, per kind, the documents with
their best question match and best text match. Nothing here knows what a clause is. The
``background`` kinds alone give the n-grams' document frequencies (an n-gram they never use
weighs as their rarest one): documents of other kinds can be added without moving the scores
of the background's documents, so the calibrated clause ranking does not shift when the FAQ
grows.

Latin-typed Kazakh and Russian ("qashyqtan oqu", "distancionno") are read a second time
transliterated to Cyrillic (``textnorm.transliterate``) and the better reading counts.

numpy only, and no Python object per n-gram or posting: an n-gram is a 64-bit hash of its
letters, computed for all texts at once by array arithmetic; the n-gram → entry postings are
flat arrays (a CSC matrix), and a query is one ``np.bincount`` over the postings of its
n-grams. 88 clauses with ~1,300 example questions and 2,000 FAQ entries (~30,000 texts) build
in about a second; ``NgramIndex.cached`` keeps the built arrays on disk under a hash of the
documents and of this code, so a process starts by reading one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

from knowledge.languages import LANGUAGES
from knowledge.textnorm import fold, stopwords, transliterate

log = logging.getLogger(__name__)

QUESTIONS_DIR = Path(__file__).resolve().parent / "regulation" / "questions"
NGRAM_MIN, NGRAM_MAX = 3, 5
PREFIX_LEN = 4  # words compared by their first letters when checking what a match explains
LANGS = LANGUAGES

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


_new_tuple = tuple.__new__


class DocMatch(NamedTuple):
    """How close a question is to one document: best cosine per source (0 when none). A
    named tuple: a search reports a few dozen, and a tuple is made in one step."""

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
    """Per document kind, the documents best first by ``DocMatch.best``; ``index`` is the
    index that searched (a caller holding several can tell whose result this is)."""

    by_kind: dict[str, list[DocMatch]]
    index: object | None = field(default=None, compare=False, repr=False)

    def top(self, kind: str) -> list[DocMatch]:
        return self.by_kind.get(kind, [])

    def get(self, kind: str, doc_id: str) -> DocMatch | None:
        return next((m for m in self.by_kind.get(kind, []) if m.id == doc_id), None)


def normalise(text: str) -> str:
    """Lower-case, Kazakh letters folded onto Russian ones, words separated by one space."""
    text = unicodedata.normalize("NFKC", text)
    return fold(" ".join(_WORD.findall(text)))


def ngrams(text: str) -> dict[str, int]:
    """Character n-grams of each word padded with spaces ("char_wb"), with their counts
    (the index hashes the same n-grams; this is their readable form)."""
    out: dict[str, int] = defaultdict(int)
    for word in text.split():
        padded = f" {word} "
        for n in range(NGRAM_MIN, min(NGRAM_MAX, len(padded)) + 1):
            for i in range(len(padded) - n + 1):
                out[padded[i : i + n]] += 1
    return out


_HASH_MUL = np.uint64(0x100000001B3)  # FNV-1's 64-bit prime


def ngram_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text number, 64-bit n-gram hash) of every char_wb n-gram occurrence in ``texts``
    (normalised, words separated by spaces), for all of them in a few array operations."""
    words: list[str] = []
    owner: list[int] = []
    for t, text in enumerate(texts):
        split = text.split()
        words += split
        owner += [t] * len(split)
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    joined = " " + "  ".join(words) + " "  # every word padded with a space on both sides
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(w) + 2 for w in words), dtype=np.int64, count=len(words))
    word_of = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    owner_arr = np.asarray(owner, dtype=np.int64)
    out_text: list[np.ndarray] = []
    out_hash: list[np.ndarray] = []
    for n in range(NGRAM_MIN, NGRAM_MAX + 1):
        m = codes.shape[0] - n + 1
        if m <= 0:
            continue
        inside = word_of[:m] == word_of[n - 1 :]  # the window stays inside one padded word
        h = np.full(m, n, dtype=np.uint64)
        for k in range(n):
            h = (h * _HASH_MUL) ^ codes[k : k + m]
        out_hash.append(h[inside])
        out_text.append(owner_arr[word_of[:m][inside]])
    return np.concatenate(out_text), np.concatenate(out_hash)


_TEXT_BITS = 24  # a (n-gram, text) key: the n-gram's hash above the text's number
_HASH_BITS = 64 - _TEXT_BITS
_HASH_MASK = np.uint64((1 << _HASH_BITS) - 1)
_TEXT_MASK = np.uint64((1 << _TEXT_BITS) - 1)
# a query's n-gram: its hash above its column in the vocabulary (see NgramIndex._text_keys)
_COL_BITS = 64 - _HASH_BITS
_COL_MASK = np.uint64((1 << _COL_BITS) - 1)
_UNKNOWN_COL = (1 << _COL_BITS) - 1  # an n-gram the vocabulary lacks


def _pairs(text_ids: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n-gram hash, text) pairs, grouped by n-gram, with how often each occurs: one
    sort of one 64-bit key (a 40-bit hash above the text's number; two n-grams in a million
    share a hash about once in two million indexes)."""
    if text_ids.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    keys = ((hashes & _HASH_MASK) << np.uint64(_TEXT_BITS)) | text_ids.astype(np.uint64)
    keys.sort()
    new = np.ones(keys.shape[0], dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, keys.shape[0]))
    distinct = keys[starts]
    return distinct >> np.uint64(_TEXT_BITS), (distinct & _TEXT_MASK).astype(np.int64), counts


CACHE_FORMAT = 2
WORD_MEMO = 2500  # query words whose n-gram hashes an index keeps (about 0.5 MB)
CACHE_KEEP = 4  # index files kept in a cache directory (the newest used)


class NgramIndex:
    """TF-IDF (sublinear tf, l2-normalised) over character n-grams of every entry."""

    def __init__(self) -> None:
        self.kinds: list[str] = []  # per document
        self.ids: list[str] = []
        self._hashes = np.zeros(0, dtype=np.uint64)  # the vocabulary, sorted
        self._idf = np.zeros(0, dtype=np.float32)
        self._top_idf = 1.0  # weight of an n-gram the background never uses
        self._indptr = np.zeros(1, dtype=np.int64)  # per n-gram: slice of the postings
        self._rows = np.zeros(0, dtype=np.int32)  # entry of each posting
        self._vals = np.zeros(0, dtype=np.float16)  # its weight (tf-idf, normalised)
        self._entry_doc = np.zeros(0, dtype=np.int32)
        self._entry_source = np.zeros(0, dtype=np.int8)
        self._latin_words: frozenset[str] = frozenset()  # English words of the background
        # documents whose matches say how much of a question they explain: per document its
        # question/title entries, per such entry its words' prefixes
        self._explain_entries: dict[int, np.ndarray] = {}
        self._entry_prefixes: dict[int, frozenset[str]] = {}
        self._word_ngrams: dict[str, bytes] = {}  # per query word: its n-gram hashes
        self._derive()

    def _derive(self) -> None:
        """Lookup arrays computed from the stored ones (after a build or a load)."""
        n_docs = len(self.kinds)
        by_source: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for source in (SOURCE_QUESTION, SOURCE_TITLE, SOURCE_TEXT):
            entries = np.flatnonzero(self._entry_source == source)
            docs = self._entry_doc[entries]  # ascending: entries are stored document by document
            new = np.ones(docs.shape[0], dtype=bool)
            new[1:] = docs[1:] != docs[:-1]
            starts = np.flatnonzero(new)
            by_source.append((entries, starts, docs[starts]))
        # the three sources' entries one after the other, grouped by document: one maximum
        # per (source, document) over them, written at source × documents + document
        offsets = np.cumsum([0] + [entries.size for entries, _s, _d in by_source])
        self._group_entries = np.concatenate([e for e, _s, _d in by_source]).astype(np.int64)
        self._group_starts = np.concatenate(
            [starts + offsets[i] for i, (_e, starts, _d) in enumerate(by_source)]
        ).astype(np.int64)
        self._group_slots = np.concatenate(
            [docs + i * n_docs for i, (_e, _s, docs) in enumerate(by_source)]
        ).astype(np.int64)
        kinds = sorted(set(self.kinds))
        kind_arr = np.asarray([kinds.index(k) for k in self.kinds], dtype=np.int32)
        self._kind_docs = (
            {k: np.flatnonzero(kind_arr == i) for i, k in enumerate(kinds)} if n_docs else {}
        )
        # the kinds with a document that reports ``explained`` (the others' is always 0)
        self._explain_kinds = frozenset(self.kinds[d] for d in self._explain_entries)
        # the explaining entries of every such document in one array, document by document
        # (ascending), so one search finds each document's closest entry in a few array steps
        explain_docs = sorted(self._explain_entries)
        self._explain_slot = {d: i for i, d in enumerate(explain_docs)}
        sizes = np.asarray([self._explain_entries[d].size for d in explain_docs], dtype=np.int64)
        self._explain_flat = (
            np.concatenate([self._explain_entries[d] for d in explain_docs])
            if explain_docs
            else np.zeros(0, dtype=np.int64)
        )
        self._explain_sizes = sizes
        self._explain_starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        # per position of ``_explain_flat``: its document's slot, and the position itself (a
        # search finds every explaining document's closest entry over these fixed arrays: a
        # few thousand numbers, cheaper than gathering the reported documents' ones, issue 18)
        self._explain_seg_of = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
        self._explain_pos = np.arange(self._explain_flat.shape[0], dtype=np.int64)

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        documents: Iterable[Document],
        *,
        background: Iterable[str] | None = None,
        explain: Iterable[str] | None = None,
    ) -> NgramIndex:
        """``background``: the kinds whose entries give the document frequencies and the
        English vocabulary (None: every kind); ``explain``: the kinds whose matches report
        ``explained`` (None: every kind)."""
        docs = list(documents)
        back = None if background is None else frozenset(background)
        expl = None if explain is None else frozenset(explain)
        index = cls()
        index.kinds = [d.kind for d in docs]
        index.ids = [d.id for d in docs]
        texts: list[str] = []
        entry_doc: list[int] = []
        entry_source: list[int] = []
        latin: set[str] = set()
        for d, doc in enumerate(docs):
            for lang in LANGS:
                for q in doc.questions.get(lang, ()):
                    texts.append(normalise(q))
                    entry_doc.append(d)
                    entry_source.append(SOURCE_QUESTION)
                for t in doc.titles.get(lang, ()):
                    texts.append(normalise(t))
                    entry_doc.append(d)
                    entry_source.append(SOURCE_TITLE)
                text = doc.texts.get(lang)
                if text:
                    texts.append(normalise(text))
                    entry_doc.append(d)
                    entry_source.append(SOURCE_TEXT)
            if back is None or doc.kind in back:
                for t in (
                    *doc.questions.get("en", ()),
                    *doc.titles.get("en", ()),
                    doc.texts.get("en", ""),
                ):
                    latin.update(normalise(t).split())
        index._latin_words = frozenset(w for w in latin if _LATIN_WORD.match(w))
        index._entry_doc = np.asarray(entry_doc, dtype=np.int32)
        index._entry_source = np.asarray(entry_source, dtype=np.int8)
        n = len(texts)
        owners, hashes = ngram_hashes(texts)
        if n >= 1 << _TEXT_BITS:
            raise ValueError(f"{n} texts: the index holds at most {1 << _TEXT_BITS}")
        hashes, rows, counts = _pairs(owners, hashes)  # grouped by n-gram: the CSC order
        first = np.ones(hashes.shape[0], dtype=bool)
        first[1:] = hashes[1:] != hashes[:-1]
        vocab = hashes[first]
        if vocab.shape[0] >= _UNKNOWN_COL:
            raise ValueError(f"{vocab.shape[0]} n-grams: an index holds fewer than {_UNKNOWN_COL}")
        cols = np.cumsum(first) - 1
        if back is None:
            in_back = np.ones(n, dtype=bool)
        else:
            doc_in_back = np.asarray([k in back for k in index.kinds], dtype=bool)
            in_back = doc_in_back[index._entry_doc] if n else np.zeros(0, dtype=bool)
        n_back = max(1, int(in_back.sum()))
        df = np.bincount(cols[in_back[rows]], minlength=vocab.shape[0]).astype(np.float32)
        # an n-gram the background never uses weighs as its rarest n-gram (df = 1)
        idf = (np.log((1.0 + n_back) / (1.0 + np.maximum(df, 1.0))) + 1.0).astype(np.float32)
        weights = (1.0 + np.log(counts.astype(np.float32))) * idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=max(1, n)))
        # float16 postings: half the memory; a cosine moves by about 1e-4
        weights = (weights / np.maximum(norms[rows], 1e-9)).astype(np.float16)
        indptr = np.zeros(vocab.shape[0] + 1, dtype=np.int64 if cols.size >= 1 << 31 else np.int32)
        indptr[1:] = np.flatnonzero(np.append(first[1:], True)) + 1
        index._hashes = vocab
        index._idf = idf
        index._top_idf = float(np.log((1.0 + n_back) / 2.0) + 1.0)
        index._rows = rows.astype(np.uint16 if n <= 1 << 16 else np.int32)
        index._vals = weights
        index._indptr = indptr
        for e, (d, source) in enumerate(zip(entry_doc, entry_source, strict=True)):
            if source == SOURCE_TEXT or (expl is not None and docs[d].kind not in expl):
                continue
            index._entry_prefixes[e] = frozenset(_prefix(w) for w in texts[e].split())
        by_doc: dict[int, list[int]] = defaultdict(list)
        for e in index._entry_prefixes:
            by_doc[entry_doc[e]].append(e)
        index._explain_entries = {d: np.asarray(es, dtype=np.int64) for d, es in by_doc.items()}
        index._derive()
        return index

    @property
    def size(self) -> int:
        return int(self._entry_doc.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return sum(
            a.nbytes
            for a in (
                self._hashes,
                self._idf,
                self._indptr,
                self._rows,
                self._vals,
                self._entry_doc,
                self._entry_source,
            )
        )

    # --- the disk cache ----------------------------------------------------------------------

    @staticmethod
    def content_key(
        documents: Sequence[Document],
        background: Iterable[str] | None = None,
        explain: Iterable[str] | None = None,
    ) -> str:
        """A hash of the documents, the build options and this code: equal keys, equal
        indexes."""
        digest = hashlib.sha256()
        for path in _CODE_FILES:
            digest.update(path.read_bytes())
        options = [
            CACHE_FORMAT,
            sorted(background) if background is not None else None,
            sorted(explain) if explain is not None else None,
        ]
        digest.update(json.dumps(options).encode())
        for doc in documents:
            digest.update(
                json.dumps(
                    [doc.kind, doc.id, doc.questions, doc.titles, doc.texts],
                    ensure_ascii=False,
                    sort_keys=True,
                    default=list,
                ).encode()
            )
        return digest.hexdigest()[:32]

    @classmethod
    def cached(
        cls,
        documents: Iterable[Document],
        directory: Path | None,
        *,
        background: Iterable[str] | None = None,
        explain: Iterable[str] | None = None,
    ) -> NgramIndex:
        """The index of ``documents``, read from ``directory`` when it was built before with
        the same documents, options and code; else built and written there (no directory:
        built). A cache that cannot be read or written is rebuilt, never fatal."""
        docs = list(documents)
        if directory is None:
            return cls.build(docs, background=background, explain=explain)
        path = directory / f"ngram-{cls.content_key(docs, background, explain)}.npz"
        if path.exists():
            try:
                index = cls.load(path)
                os.utime(path)  # the newest used are the ones kept
                return index
            except (OSError, ValueError, KeyError) as exc:
                log.warning("search index cache %s unreadable (%s); rebuilding", path, exc)
        index = cls.build(docs, background=background, explain=explain)
        try:
            index.save(path)
            _prune(directory)
        except OSError as exc:
            log.warning("search index cache %s not written: %s", path, exc)
        return index

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (atomically: readers see the old file or the new)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": CACHE_FORMAT,
            "kinds": self.kinds,
            "ids": self.ids,
            "top_idf": self._top_idf,
            "latin": sorted(self._latin_words),
            "prefixes": {str(e): " ".join(sorted(p)) for e, p in self._entry_prefixes.items()},
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), np.uint8),
                hashes=self._hashes,
                idf=self._idf,
                indptr=self._indptr,
                rows=self._rows,
                vals=self._vals,
                entry_doc=self._entry_doc,
                entry_source=self._entry_source,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> NgramIndex:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            if meta.get("format") != CACHE_FORMAT:
                raise ValueError(f"format {meta.get('format')}, expected {CACHE_FORMAT}")
            index = cls()
            index._hashes = data["hashes"]
            index._idf = data["idf"]
            index._indptr = data["indptr"]
            index._rows = data["rows"]
            index._vals = data["vals"]
            index._entry_doc = data["entry_doc"]
            index._entry_source = data["entry_source"]
        index.kinds = list(meta["kinds"])
        index.ids = list(meta["ids"])
        index._top_idf = float(meta["top_idf"])
        index._latin_words = frozenset(meta["latin"])
        index._entry_prefixes = {int(e): frozenset(p.split()) for e, p in meta["prefixes"].items()}
        by_doc: dict[int, list[int]] = defaultdict(list)
        for e in sorted(index._entry_prefixes):
            by_doc[int(index._entry_doc[e])].append(e)
        index._explain_entries = {d: np.asarray(es, dtype=np.int64) for d, es in by_doc.items()}
        index._derive()
        return index

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
            readings.append(" ".join(transliterate(w, lang) if w in foreign else w for w in words))
        return readings

    def _text_keys(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The distinct n-grams of a normalised text, ascending by hash as the index keys
        them, and their counts (what ``_pairs(*ngram_hashes([text]))`` gives), put together
        from each word's n-grams: a word's are hashed and looked up in the vocabulary once and
        kept (issue 18: the words of questions repeat). An n-gram is one 64-bit key, its 40-bit
        hash above its column in the vocabulary (``_UNKNOWN_COL`` for one the index lacks), so
        sorting the keys sorts the hashes. At most ``WORD_MEMO`` words are kept (then the memo
        starts again: its memory stays bounded however many new words come)."""
        words = text.split()
        if not words:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        memo = self._word_ngrams
        missing = [w for w in dict.fromkeys(words) if w not in memo]
        if missing:
            if len(memo) + len(missing) > WORD_MEMO:
                memo.clear()
                missing = list(dict.fromkeys(words))
            owners, hashes = ngram_hashes(missing)
            hashes &= _HASH_MASK
            vocab = self._hashes
            pos = np.searchsorted(vocab, hashes)
            if vocab.shape[0]:
                known = vocab[np.minimum(pos, vocab.shape[0] - 1)] == hashes
            else:
                known = np.zeros(pos.shape[0], dtype=bool)
            col = np.where(known, pos, _UNKNOWN_COL).astype(np.uint64)
            keys = (hashes << np.uint64(_COL_BITS)) | col
            for i, word in enumerate(missing):
                memo[word] = keys[owners == i].tobytes()
        joined = np.frombuffer(b"".join([memo[w] for w in words]), dtype=np.uint64).copy()
        joined.sort()
        n = joined.shape[0]
        edge = np.empty(n + 1, dtype=bool)  # where a run of one key starts (and the end)
        edge[0] = edge[n] = True
        np.not_equal(joined[1:], joined[:-1], out=edge[1:n])
        bounds = edge.nonzero()[0]
        return joined[bounds[:-1]], (bounds[1:] - bounds[:-1]).astype(np.int64)

    def _query(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(columns of the known n-grams, their tf-idf, their hashes, sum of squares of the
        unknown ones' weights) of a normalised text."""
        keys, counts = self._text_keys(text)
        tf = 1.0 + np.log(counts.astype(np.float32))
        col = (keys & _COL_MASK).astype(np.int64)
        known = col != _UNKNOWN_COL
        # unknown n-grams still count in the query's norm (as the rarest known n-gram): a
        # question mostly made of words the index never saw is far from every entry
        unknown_sq = float(((tf[~known] * self._top_idf) ** 2).sum())
        cols = col[known]
        return cols, tf[known] * self._idf[cols], keys[known] >> np.uint64(_COL_BITS), unknown_sq

    def _cosines(self, text: str) -> np.ndarray:
        cols, w, _h, unknown_sq = self._query(text)
        if cols.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        w = w.astype(np.float32)
        w /= math.sqrt(float(w @ w) + unknown_sq) or 1.0
        starts = self._indptr[cols]
        lengths = self._indptr[cols + 1] - starts
        ends = np.cumsum(lengths)  # where each n-gram's postings end among the gathered ones
        total = int(ends[-1])
        # the postings of every query n-gram, gathered without a Python loop
        offsets = np.repeat(starts - (ends - lengths), lengths)
        idx = offsets + np.arange(total)
        qw = np.repeat(w, lengths)
        # float16 weights widened to float32 inside the multiplication (exact): no float32 copy
        # of all postings kept (it doubled the index's memory, issue 18.2: ≤ 30 MB)
        qw *= self._vals[idx]
        return np.bincount(self._rows[idx], weights=qw, minlength=self.size).astype(np.float32)

    def vector(self, text: str) -> dict[int, float]:
        """The question's l2-normalised tf-idf vector, n-gram hash → weight, unknown n-grams
        included (two questions can share words no document has): compare two with
        :func:`cosine`."""
        hashes, _t, counts = _pairs(*ngram_hashes([normalise(text)]))
        if hashes.size == 0:
            return {}
        pos = np.minimum(np.searchsorted(self._hashes, hashes), max(0, self._hashes.shape[0] - 1))
        idf = np.full(hashes.shape[0], self._top_idf, dtype=np.float64)
        if self._hashes.shape[0]:
            known = self._hashes[pos] == hashes
            idf[known] = self._idf[pos[known]]
        w = (1.0 + np.log(counts)) * idf
        w /= math.sqrt(float(w @ w)) or 1.0
        return dict(zip(hashes.tolist(), w.tolist(), strict=True))

    def _closest_explaining(self, sims: np.ndarray) -> list[int]:
        """Per explaining document (by its ``_explain_slot``), its entry closest to the
        question: the first of the highest, as ``np.argmax`` over the document's entries picks
        it (every explaining document has at least one entry)."""
        flat = self._explain_flat
        if not flat.shape[0]:
            return []
        values = sims[flat]
        highest = np.maximum.reduceat(values, self._explain_starts)
        position = np.where(
            values == highest[self._explain_seg_of], self._explain_pos, flat.shape[0]
        )
        closest: list[int] = flat[np.minimum.reduceat(position, self._explain_starts)].tolist()
        return closest

    def search(self, text: str, k: int = 10) -> MatchResult:
        readings = self._readings(text)
        sims = self._cosines(readings[0])
        # Latin-typed words often read the same in Kazakh and Russian: a reading met before
        # adds nothing to the maximum
        for reading in dict.fromkeys(readings[1:]):
            np.maximum(sims, self._cosines(reading), out=sims)
        stop = _stop_words()
        # per content word of the question: the prefixes of its readings
        split = [r.split() for r in readings]
        words = [
            {_prefix(r[i]) for r in split if i < len(r)}
            for i, w in enumerate(split[0])
            if w not in stop and len(w) >= 3
        ]
        n_docs = len(self.kinds)
        # per source and document, its best entry: one maximum over the entries grouped so
        flat_best = np.zeros(3 * n_docs, dtype=np.float32)
        if self._group_entries.size:
            flat_best[self._group_slots] = np.maximum.reduceat(
                sims[self._group_entries], self._group_starts
            )
        best = flat_best.reshape(3, n_docs)
        overall = best.max(axis=0) if n_docs else best[0]
        tops: list[tuple[str, list[int]]] = []
        # one sort of all documents by (kind, -score) was cheaper with the bot's 183 documents
        # but ten times dearer with 2,000 FAQ entries (bench_faq_scale): each kind is ranked
        # alone, a large one after a partition
        for kind, kind_docs in self._kind_docs.items():
            scores = overall[kind_docs]
            if kind_docs.shape[0] > 4 * k:
                # the k best (ties by document order, as a full stable sort would give)
                cut = np.partition(-scores, k - 1)[k - 1]
                kind_docs = kind_docs[-scores <= cut]
                scores = overall[kind_docs]
            tops.append((kind, kind_docs[np.argsort(-scores, kind="stable")[:k]].tolist()))
        by_kind: dict[str, list[DocMatch]] = {}
        if not tops:
            return MatchResult(by_kind, self)
        reported = [d for _kind, top in tops for d in top]
        # the reported cosines rounded to 4 places in one go: a float32 times 10⁴ is exact in
        # float64 (24 + 14 bits), so rint (ties to even) and the division give what Python's
        # round(x, 4) gives for each, to the bit
        scaled = best[:, reported].astype(np.float64) * 10000.0
        np.rint(scaled, out=scaled)
        scaled /= 10000.0
        questions, titles, texts = scaled.tolist()
        slot_of = self._explain_slot
        explaining = bool(words) and any(
            d in slot_of for kind, top in tops if kind in self._explain_kinds for d in top
        )
        closest = self._closest_explaining(sims) if explaining else []
        ids = self.ids
        prefixes_of = self._entry_prefixes
        n_words = len(words)
        at = 0
        for kind, top in tops:
            end = at + len(top)
            if explaining and kind in self._explain_kinds:
                shares: list[float] = []
                for d in top:
                    slot = slot_of.get(d)
                    if slot is None:
                        shares.append(0.0)
                        continue
                    # the share of the question's content words in the document's closest
                    # short entry: the words whose readings meet its prefixes are all but the
                    # disjoint ones (isdisjoint builds no set; one C loop, issue 18)
                    disjoint = sum(map(prefixes_of[closest[slot]].isdisjoint, words))
                    shares.append(round((n_words - disjoint) / n_words, 4))
            else:
                shares = [0.0] * len(top)
            # DocMatch(...) without its Python-level __new__ (the same tuples; 36 a search)
            by_kind[kind] = [
                _new_tuple(DocMatch, row)
                for row in zip(
                    repeat(kind, len(top)),
                    [ids[d] for d in top],
                    questions[at:end],
                    titles[at:end],
                    texts[at:end],
                    shares,
                    strict=True,
                )
            ]
            at = end
        return MatchResult(by_kind, self)


def cosine(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    """Dot product of two :meth:`NgramIndex.vector` results (their cosine)."""
    if len(a) > len(b):
        a, b = b, a
    get = b.get
    return sum(value * get(key, 0.0) for key, value in a.items())


def _prune(directory: Path, keep: int = CACHE_KEEP) -> None:
    """Keep the ``keep`` most recently used index files (each change of the FAQ writes one)."""
    files = sorted(directory.glob("ngram-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


_CODE_FILES: tuple[Path, ...] = (
    Path(__file__),
    Path(__file__).resolve().parent / "textnorm.py",
)


def _prefix(word: str) -> str:
    return word[:PREFIX_LEN]


def content_prefixes(text: str, *, stop: bool = True) -> list[str]:
    """The first letters of the text's words (with ``stop``, of its content words only: no
    stop words, at least 3 letters), as ``DocMatch.explained`` compares them."""
    stops = _stop_words() if stop else frozenset()
    return [
        _prefix(w) for w in normalise(text).split() if not stop or (w not in stops and len(w) >= 3)
    ]


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


# The regulation's kinds of document: they alone weigh the n-grams (``background``) when other
# kinds (FAQ entries) share the index; a clause's match reports how much it explains.
REGULATION_KINDS: tuple[str, ...] = ("clause", "not_covered")
EXPLAIN_KINDS: tuple[str, ...] = ("clause",)


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
    "EXPLAIN_KINDS",
    "REGULATION_KINDS",
    "DocMatch",
    "Document",
    "MatchResult",
    "NgramIndex",
    "content_prefixes",
    "cosine",
    "load_question_bank",
    "ngram_hashes",
    "ngrams",
    "normalise",
    "regulation_documents",
]
