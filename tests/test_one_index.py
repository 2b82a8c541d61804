"""One index over the clauses and the FAQ (issue 18): FAQ entries never move a clause's scores,
the index is kept on disk under a hash of its documents, and a question comes back with its
best documents of every kind from one search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.services.answers import AnswerKind, AnswerService, build_matcher, load_knowledge
from bot.services.faq import FaqService
from knowledge.faq import ClauseExample, FaqEntry, faq_documents, load_faq_files
from knowledge.qmatch import (
    EXPLAIN_KINDS,
    REGULATION_KINDS,
    Document,
    NgramIndex,
    cosine,
    ngram_hashes,
    ngrams,
)

QUESTIONS = [
    "сәлем ауырып жүрмін врач справка берді үйден оқуға бола ма",
    "Can I study law online?",
    "kashyktan okuga kalai otinish beremin",
    "сколько стоит общага в месяц",
    "i forgot my platonus password",
]


@pytest.fixture(scope="module")
def documents() -> tuple[Document, ...]:
    return load_knowledge().documents


def test_every_char_wb_ngram_is_hashed_once_per_occurrence() -> None:
    texts = ["оқу онлайн", "", "law"]
    owners, hashes = ngram_hashes(texts)
    for t, text in enumerate(texts):
        counted = ngrams(text)
        assert int((owners == t).sum()) == sum(counted.values())
        assert len(set(hashes[owners == t].tolist())) == len(counted)


def test_faq_entries_never_move_a_clause_score(documents: tuple[Document, ...]) -> None:
    alone = NgramIndex.build(documents, background=REGULATION_KINDS, explain=EXPLAIN_KINDS)
    merged = build_matcher(documents, load_faq_files(), [ClauseExample("тест", "ru", "5.4.1")])
    for question in QUESTIONS:
        before, after = alone.search(question, k=12), merged.search(question, k=12)
        for kind in REGULATION_KINDS:
            assert before.top(kind) == after.top(kind), (question, kind)
        assert after.top("faq") and not before.top("faq")


def test_the_index_is_read_from_the_disk_cache_and_a_change_writes_a_new_one(
    documents: tuple[Document, ...], tmp_path: Path
) -> None:
    entries = list(load_faq_files())
    built = build_matcher(documents, entries, cache_dir=tmp_path)
    [first] = tmp_path.glob("ngram-*.npz")
    read = build_matcher(documents, entries, cache_dir=tmp_path)
    assert list(tmp_path.glob("ngram-*.npz")) == [first]
    for question in QUESTIONS:
        assert read.search(question).by_kind == built.search(question).by_kind
    assert read.kinds == built.kinds and read.ids == built.ids
    np.testing.assert_array_equal(read._vals, built._vals)

    taught = build_matcher(
        documents,
        entries,
        [ClauseExample("можно ли из больницы", "ru", "5.4.1")],
        cache_dir=tmp_path,
    )
    assert len(list(tmp_path.glob("ngram-*.npz"))) == 2
    assert taught.search("можно ли из больницы").top("taught")[0].id == "5.4.1"


def test_an_unreadable_cache_file_is_rebuilt_not_fatal(
    documents: tuple[Document, ...], tmp_path: Path
) -> None:
    entries = list(load_faq_files())[:3]
    build_matcher(documents, entries, cache_dir=tmp_path)
    [path] = tmp_path.glob("ngram-*.npz")
    path.write_bytes(b"not an index")
    index = build_matcher(documents, entries, cache_dir=tmp_path)
    assert index.kinds.count("faq") == 3
    assert NgramIndex.load(path).kinds == index.kinds  # written again, whole


def test_only_the_newest_index_files_are_kept(tmp_path: Path) -> None:
    for i in range(6):
        docs = [Document(kind="faq", id=f"e{i}", questions={"en": [f"question {i}"]})]
        NgramIndex.cached(docs, tmp_path)
    assert len(list(tmp_path.glob("ngram-*.npz"))) == 4


def test_a_new_entry_is_answered_from_the_same_search_that_ranked_the_clauses() -> None:
    answers = AnswerService()
    faq = FaqService(None, None, answers)
    entry = FaqEntry(
        key="staff-0099",
        question={"en": "where do i print my coursework"},
        answer={"en": "In the library."},
        office="library",
    )
    faq.snapshot = faq.snapshot.__class__(
        version=1,
        entries={**faq.entries, entry.key: entry},
        offices=faq.offices,
        matcher=answers.matcher_with([*load_faq_files(), entry]),
        router=faq.snapshot.router,
    )
    question = "where can i print my coursework?"
    answer = answers.answer(question, "en", matcher=faq.matcher)
    assert answer.matches is not None and answer.matches.index is faq.matcher
    assert answer.matches.top("faq")[0].id == "staff-0099"
    if answer.kind in (AnswerKind.UNSURE, AnswerKind.OUT_OF_SCOPE):
        assert getattr(faq.consult(question, "en", answer), "entry_key", None) == "staff-0099"


def test_similar_questions_have_similar_vectors(documents: tuple[Document, ...]) -> None:
    index = build_matcher(documents, load_faq_files())
    a = index.vector("где находится общежитие")
    b = index.vector("где находится общежитие?")
    c = index.vector("how to apply for academic leave")
    assert cosine(a, b) > 0.99 and cosine(a, c) < 0.2
    assert faq_documents([], [ClauseExample("x y", "kk", "5.1")])[0].kind == "taught"
