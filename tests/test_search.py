"""Clause search as a student meets it: typos, endings, Latin typing, slang and junk input.

All tests run against the real knowledge base (``knowledge/regulation/*.yaml``) and the real
programme catalogue, built once per module, exactly as the bot builds it.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from pathlib import Path

import pytest

from knowledge.programmes import ProgrammeCatalog
from knowledge.regulation import load_regulation
from knowledge.search import CONFIDENCE_THRESHOLD, KnowledgeIndex, SearchResult
from knowledge.textnorm import FOLD_TABLE, fold, stemmers, stopwords, tokenize, transliterate

PARAPHRASES = Path(__file__).resolve().parents[1] / "bench" / "data" / "paraphrases.jsonl"


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.build(load_regulation(), ProgrammeCatalog.load())


def top3(result: SearchResult) -> list[str]:
    return [h.clause_id for h in result.hits[:3]]


def assert_answers(result: SearchResult, *expected: str) -> None:
    assert result.hits, "no clause found"
    assert set(top3(result)) & set(expected), f"wanted one of {expected}, got {top3(result)}"
    assert result.confidence >= CONFIDENCE_THRESHOLD, f"confidence {result.confidence}"


# --- what a student types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("прокторнг деген не", "3.9"),  # a letter missing
        ("что такое цифровй след", "3.12"),
        ("what is a learnign managment system", "3.11"),
        ("асинхроный формат это что", "3.2"),
        ("плагиатка тексеріле ме жазбаша жұмыстар", "6.15"),
    ],
)
def test_typos_still_find_the_clause(index: KnowledgeIndex, question: str, expected: str) -> None:
    assert_answers(index.search(question), expected)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("мүгедек балаларға қашықтан оқуға рұқсат бар ма", "5.1.1"),
        ("бейімдеу апталарында не болады", "6.18.4"),
        ("академиялық ұтқырлықпен жүргендерге кредиттердің қанша бөлігі", "5.4.13"),
        ("кәсіптік практикаларымызды онлайн өтуге бола ма", "6.11"),
    ],
)
def test_kazakh_endings_are_stripped(index: KnowledgeIndex, question: str, expected: str) -> None:
    assert_answers(index.search(question), expected)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("лабораторных занятий при карантине не будет?", "5.4.12"),
        ("проверяются ли письменные работы на заимствование", "6.15"),
        ("для детей-инвалидов дистанционное обучение", "5.1.1"),
        ("перевод с одной формы обучения на другую во время каникул", "6.17"),
    ],
)
def test_russian_endings_are_stemmed(index: KnowledgeIndex, question: str, expected: str) -> None:
    assert_answers(index.search(question), expected)


@pytest.mark.parametrize(
    ("question", "expected", "lang"),
    [
        ("qashyqtan oqytu degenimiz ne", "3.1", "kk"),
        ("onlain oqu nysanynda aralyq attestattau qalai otedi", "6.14", "kk"),
        ("distancionnoe obuchenie dlya yuristov skolko procentov predmetov", "5.4.5", "ru"),
        ("chto takoe onlain proktoring", "3.9", "ru"),
    ],
)
def test_latin_typed_kazakh_and_russian(
    index: KnowledgeIndex, question: str, expected: str, lang: str
) -> None:
    result = index.search(question)
    assert_answers(result, expected)
    assert result.detected_lang == lang


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # Latin abbreviations are read as transliterated: "gia" is ГИА (final attestation)
        ("gia onlain mozhno?", "5.3"),
        # "proktor" is a synonym form (проктор), not a typo of "проректор" (vice-rector)
        ("kto takoi proktor", "3.9"),
    ],
)
def test_latin_typed_russian_slang_and_abbreviations(
    index: KnowledgeIndex, question: str, expected: str
) -> None:
    result = index.search(question)
    assert top3(result)[0] == expected, top3(result)
    assert result.confident, result.confidence


def test_latin_typed_russian_without_the_soft_sign_is_understood() -> None:
    """Chat Russian drops ь/ъ: "skolko" is «сколько», a stop word, not an unknown topic word."""
    stop = stopwords()["ru"]
    for word in ("skolko", "obyasnite", "mozhno"):
        assert transliterate(word, "ru") in stop, word


def test_latin_kazakh_2021_alphabet_letters() -> None:
    assert [t.norm for t in tokenize("oqýǵa mamandyń")] == ["oqýǵa", "mamandyń"]
    assert transliterate("mamandyǵy", "kk") == fold("мамандығы")
    assert transliterate("nárse", "kk") == fold("нәрсе")
    assert transliterate("oqýǵa", "kk") == fold("оқуға")


def test_english_stop_words_that_yaml_reads_as_booleans() -> None:
    assert {"on", "no", "yes"} <= stopwords()["en"]


def test_kazakh_typed_with_russian_lookalikes_ranks_like_the_real_letters(
    index: KnowledgeIndex,
) -> None:
    proper = index.search("қашықтан оқуға ауыстыру үшін өтінішті кім жазады")
    lookalike = index.search("кашыктан окуга ауыстыру ушин отиништи ким жазады")
    assert top3(lookalike)[0] == top3(proper)[0] == "5.2.2"
    assert lookalike.detected_lang == "kk"


def test_mixed_script_words_and_sentences(index: KnowledgeIndex) -> None:
    # Latin "o", "p" and "c" typed inside a Cyrillic word
    assert_answers(index.search("что такое пpoктopинг"), "3.9")
    # a Kazakh sentence finished in Latin letters
    assert_answers(index.search("онлайн прокторинг emtihanda qoldanyla ma"), "6.14", "3.9", "5.3")
    # Russian slang inside a Kazakh question
    assert_answers(index.search("ВКК справкасы бар, дистанционкаға бола ма"), "5.4.1")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ДО для юристов сколько процентов предметов", "5.4.5"),
        ("ООН деген не", "3.8"),
        ("МООК что это", "3.5"),
        ("моок через курсеру сколько процентов кредитов на онлайн форме", "6.9.4"),
        ("ЖАОК дегеніміз не", "3.5"),
        ("MOOC definition", "3.5"),
        ("у меня заключение ВКК", "5.4.1"),
        ("ПМПК ұсынымы", "5.1.1"),
        ("DL for law students, how many subjects", "5.4.5"),
        ("midterms online?", "6.14"),  # the intermediate attestation
        ("как универ отслеживает мою посещаемость", "6.12"),
        ("можно ли учиться из дома если я спортсмен на сборах", "5.1.2"),
        ("who decides which form the exams take", "6.14"),
    ],
)
def test_abbreviations_and_slang(index: KnowledgeIndex, question: str, expected: str) -> None:
    assert_answers(index.search(question), expected)


def test_a_synonym_needs_the_whole_word_not_just_a_shared_stem(index: KnowledgeIndex) -> None:
    """«курс» shares its stem with «Курсера» (a MOOC), but an online course is clause 3.7."""
    assert top3(index.search("онлайн курс деген не"))[0] == "3.7"
    assert top3(index.search("что такое онлайн-курс"))[0] == "3.7"


def test_capitals_make_a_stop_word_an_abbreviation(index: KnowledgeIndex) -> None:
    """«ИА» (итоговая аттестация) is found although «иә» (yes) is a Kazakh stop word."""
    assert top3(index.search("ИА", lang="ru"))[0] == "5.3"
    assert index.search("иа").hits == []


def test_preposition_do_is_not_the_abbreviation(index: KnowledgeIndex) -> None:
    """«до» in lower case is "until"; only «ДО» means distance learning."""
    plain = index.search("сколько дней до начала семестра выкладывают контент")
    assert top3(plain)[0] == "6.9.2"


def test_a_question_about_an_amount_is_not_answered_by_a_definition(
    index: KnowledgeIndex,
) -> None:
    for question in ("цифровые ресурсы сколько процентов", "MOOC how many percent of credits"):
        top = top3(index.search(question))[0]
        assert not top.startswith("3."), (question, top)


def test_specific_items_are_preferred_over_their_parent(index: KnowledgeIndex) -> None:
    assert top3(index.search("мүгедек балалар қашықтан оқи ала ма"))[0] == "5.1.1"
    assert top3(index.search("sports competitions participants distance learning"))[0] != "5.1"
    assert top3(index.search("адаптационные недели для первокурсников"))[0] == "6.18.4"


def test_programme_names_reach_the_appendix(index: KnowledgeIndex) -> None:
    assert_answers(index.search("Can I study public health online?"), "6.2", "appendix-1")
    assert_answers(index.search("әскери іс мамандығы онлайн бола ма"), "6.2", "appendix-1")


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Қашықтан оқуға қалай ауысамын?", "kk"),
        ("Как перевестись на дистанционное обучение?", "ru"),
        ("How do I switch to distance learning?", "en"),
        ("qashyqtan oqu", "kk"),
    ],
)
def test_language_is_detected_from_the_text(
    index: KnowledgeIndex, question: str, lang: str
) -> None:
    assert index.search(question, lang="en" if lang != "en" else "ru").detected_lang == lang


def test_interface_language_decides_when_the_text_cannot(index: KnowledgeIndex) -> None:
    assert index.search("LMS", lang="kk").detected_lang == "kk"
    assert index.search("LMS", lang="ru").detected_lang == "ru"


# --- out of scope and junk --------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "What's for lunch in the canteen today?",
        "Who won the football match last night?",
        "какая погода будет в Атырау завтра",
        "как приготовить бешбармак",
        "Ертең ауа райы қандай болады?",
        "асханада бүгін қандай тамақ бар",
    ],
)
def test_questions_outside_the_regulation_get_low_confidence(
    index: KnowledgeIndex, question: str
) -> None:
    assert index.search(question).confidence < CONFIDENCE_THRESHOLD


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   \n\t ",
        "😀🎉🔥",
        "?!...,,,",
        "1234567890",
        "3",
        "20 %",
        "а",
        "x" * 4096,
        "asdf qwer zxcv " * 273,
        "'; DROP TABLE clauses; --",
        "<script>alert('x')</script><b>hi</b>",
        "\x00\x01\u200b\ufeff",
        "q" * 50 + " " + "й" * 50,
    ],
)
def test_junk_input_never_crashes_and_is_not_confident(index: KnowledgeIndex, junk: str) -> None:
    result = index.search(junk)
    assert isinstance(result, SearchResult)
    assert 0.0 <= result.confidence < CONFIDENCE_THRESHOLD
    assert result.detected_lang in ("kk", "ru", "en")


def test_a_repeated_word_counts_once(index: KnowledgeIndex) -> None:
    assert top3(index.search("ҚО " * 1400)) == top3(index.search("ҚО"))
    assert top3(index.search("ДО ДО ДО ДО")) == top3(index.search("ДО"))


def test_results_are_ordered_and_bounded(index: KnowledgeIndex) -> None:
    result = index.search("онлайн оқыту", k=4)
    assert 0 < len(result.hits) <= 4
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.clause_id for h in result.hits}) == len(result.hits)


# --- our own paraphrases (not the shared dev set) -------------------------------------------

SAMPLE = (
    "p-kk-02 p-kk-05 p-kk-09 p-kk-11 p-kk-17 p-kk-22 p-kk-24 p-kk-30 p-kk-33 "
    "p-ru-01 p-ru-07 p-ru-12 p-ru-16 p-ru-21 p-ru-26 p-ru-33 p-ru-35 "
    "p-en-02 p-en-07 p-en-13 p-en-15 p-en-17 p-en-23 p-en-29 p-en-35"
).split()


def _paraphrases() -> dict[str, dict]:
    with PARAPHRASES.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {row["id"]: row for row in rows}


@pytest.mark.parametrize("pid", SAMPLE)
def test_student_paraphrases_find_an_accepted_clause_in_top3(
    index: KnowledgeIndex, pid: str
) -> None:
    row = _paraphrases()[pid]
    result = index.search(row["question"], lang=row["lang"])
    assert set(top3(result)) & set(row["expect"]), (row["question"], top3(result))


# --- normalisation and speed ------------------------------------------------------------------


def test_fold_is_the_folding_table_applied_in_one_translation() -> None:
    """fold replaces the table's letters one by one (issue 18): every character, alone and
    inside words of both scripts, folds exactly as the table's single translation folds it."""
    chars = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF)
    samples = [chars, "ҚАШЫҚТАН оқуға ӘЙЁЭ һұүі ңғө", "Qashyqtan OQU", "", "ё"]
    samples += list(chars)
    for text in samples:
        assert fold(text) == text.lower().translate(FOLD_TABLE)


def test_folding_and_transliteration() -> None:
    assert fold("Қашықтан ОҚУ") == fold("кашыктан оку") == "кашыктан оку"
    assert transliterate("qashyqtan", "kk") == fold("қашықтан")
    assert transliterate("obuchenie", "ru") == "обучение"
    assert [t.norm for t in tokenize("онлайн-оқыту, LMS!")] == ["онлаин", "окыту", "lms"]
    assert [t.norm for t in tokenize("кемінде 20%-ын")] == ["кеминде", "20", "%", "ын"]


def test_kazakh_stemmer_joins_the_forms_of_one_word() -> None:
    stem = stemmers().stem
    for forms in (
        ("мамандық", "мамандығы", "мамандығын", "мамандыққа"),
        ("пән", "пәндер", "пәндердің", "пәні"),
        ("бұйрық", "бұйрығымен"),
        ("із", "ізі"),
        ("оқытушы", "оқытушының", "оқытушылар"),
    ):
        assert len({stem(fold(f), "kk") for f in forms}) == 1, forms
    # the teacher is not the teaching
    assert stem(fold("оқытушы"), "kk") != stem(fold("оқыту"), "kk")


def test_build_and_search_are_fast_enough_for_the_event_loop() -> None:
    start = time.perf_counter()
    index = KnowledgeIndex.build(load_regulation(), ProgrammeCatalog.load())
    assert time.perf_counter() - start < 2.0  # generous: shared CI machines
    questions = [row["question"] for row in _paraphrases().values()]
    samples = []
    # The search's own CPU: a collection of what the rest of the suite left behind would land
    # on whichever search triggers it (a 62 ms "search" in a full run, 4 ms at most alone).
    gc.collect()
    gc.disable()
    try:
        for question in questions * 2:
            t0 = time.thread_time()  # CPU time of this thread: immune to other processes' load
            index.search(question)
            samples.append(time.thread_time() - t0)
    finally:
        gc.enable()
    assert statistics.median(samples) < 0.005
    assert max(samples) < 0.05


# --- blind6: Russian and Kazakh as students type them ------------------------------------------


def test_latin_russian_stop_words_are_not_kazakh_topic_words(index: KnowledgeIndex) -> None:
    """ "uchitsya", "poluchitsya" are Russian stop words; read as Kazakh they were unknown words
    (or typo-corrected to «полиция») that sank the confidence of a Latin-typed question."""
    result = index.search("poluchitsya li uchitsya distancionno esli ya sportsmen", "ru")
    assert top3(result)[0] in {"5.1.2", "5.2.1", "5.2.2"}, top3(result)
    assert result.confident, result.confidence


def test_latin_russian_ts_is_also_read_as_ts(index: KnowledgeIndex) -> None:
    """ "ts" is ц in "tsentr" but тс in "sportsmen": the other reading is tried when only it
    is a word the index knows."""
    assert set(top3(index.search("sportsmen distant", "ru"))) & {"5.1.2", "5.2.1", "5.2.2"}


def test_russian_adjectives_ending_in_folded_short_i(index: KnowledgeIndex) -> None:
    """Folded й: "международныи" must meet "международных" as "международный" does."""
    result = index.search("международныи турнир можно удаленно учиться", "ru")
    assert top3(result)[0] in {"5.1.2", "5.2.1", "5.2.2"}, top3(result)
    assert result.confident, result.confidence


@pytest.mark.parametrize(
    ("question", "lang", "expected"),
    [
        # clipped "пед" forms share one short stem; each form keeps its own guard
        ("на педе можно дистанционно", "ru", "5.4.6"),
        ("педам дистанционно запрещено?", "ru", "5.4.6"),
        ("педке кашыктан окуга бола ма", "kk", "5.4.6"),
        # a wheelchair user asks about disability
        ("дочь на коляске можно ли ей учиться дистанционно", "ru", "5.1.1"),
        ("im in a wheelchair, can i study remotely", "en", "5.1.1"),
        # students name their sport, not "sports competitions"
        (
            "сын едет на соревнования по дзюдо в казань что делать с учебой",
            "ru",
            "5.1.2|5.2.1|5.2.2",
        ),
        ("у меня шахматный турнир международный можно учиться удаленно", "ru", "5.1.2"),
        # "mid-semester" is the timing 6.17 rules on (vacations only)
        ("в середине семестра можно перейти с онлайна на очку", "ru", "6.17"),
        ("семестр ортасында онлайннан очкага ауысуга бола ма", "kk", "6.17"),
    ],
)
def test_blind6_student_wordings(
    index: KnowledgeIndex, question: str, lang: str, expected: str
) -> None:
    result = index.search(question, lang)
    assert top3(result)[0] in expected.split("|"), top3(result)
    assert result.confident, result.confidence


def test_an_answer_does_not_depend_on_the_questions_asked_before() -> None:
    """The typo-correction memo was keyed by word and language only, and a Latin-typed word
    is corrected with a looser cutoff than the same word typed in Cyrillic: once «bolgym» had
    been read, «болғым» got its correction too, and this question scored 25.96 (confidence
    0.86) instead of 25.21 (0.74) in a fresh process."""
    question = "мұғалім болғым келеді онлайн оқуға түсуге бола ма"
    fresh = KnowledgeIndex.build(load_regulation(), ProgrammeCatalog.load())
    first = fresh.search(question, "kk")
    used = KnowledgeIndex.build(load_regulation(), ProgrammeCatalog.load())
    used.search("mugalim bolgym keledi onlain okuga tusuge bola ma", "kk")
    after = used.search(question, "kk")
    assert [(h.clause_id, h.score) for h in after.hits] == [
        (h.clause_id, h.score) for h in first.hits
    ]
    assert after.confidence == first.confidence
