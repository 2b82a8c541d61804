"""A student asks whether their programme may be studied online or at a distance.

The student sends a code (at any precision, Latin or Cyrillic letters) or a name, alias or typo
in kk/ru/en; the catalog answers from Appendix 1 (clause 6.2) and clauses 5.4.5–5.4.7.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import time
from collections.abc import Iterator

import pytest
from aiogram.utils.i18n import I18n
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import LOCALES_DIR, make_i18n
from bot.services.programmes import render_verdict
from knowledge.programmes import (
    CLAUSE_ORDER,
    DLCap,
    LookupResult,
    ProgrammeCatalog,
    Reason,
    find_programme_mentions,
    load_catalog,
)

# The 42 codes printed in Appendix 1 of the regulation (bachelor and master).
APPENDIX_1 = [
    f"{prefix}{suffix}"
    for prefix in ("6B", "7M")
    for suffix in (
        "011", "012", "013", "014", "015", "016", "017", "018", "019",
        "071", "072", "073", "074", "075", "021", "055", "091", "101", "121", "122", "123",
    )
]  # fmt: skip

PEDAGOGICAL = [f"{p}01{i}" for p in ("6B", "7M") for i in range(1, 10)]


@pytest.fixture(scope="module")
def catalog() -> ProgrammeCatalog:
    return load_catalog()


@pytest.fixture(scope="module")
def i18n(tmp_path_factory: pytest.TempPathFactory) -> Iterator[I18n]:
    # Compile a private copy: other runs may be rewriting the shared .mo files meanwhile.
    path = tmp_path_factory.mktemp("locales")
    for po in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"):
        target = path / po.relative_to(LOCALES_DIR)
        target.parent.mkdir(parents=True)
        shutil.copyfile(po, target)
    i18n = make_i18n(path=path)
    with i18n.context():
        yield i18n


def suffixes(result: LookupResult) -> set[str]:
    return {code[2:] for code in result.codes}


# --- codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("6B06102", "6B061"),  # an educational programme's code -> its direction
        ("6B061", "6B061"),
        ("6b061", "6B061"),
        ("6в061", "6B061"),  # Cyrillic в
        ("6В06102", "6B061"),  # Cyrillic В
        ("7m071", "7M071"),
        ("7М071", "7M071"),  # Cyrillic М
        ("6B-061", "6B061"),
        (" 7M04201 ", "7M042"),
    ],
)
def test_code_at_any_precision_and_script_finds_its_direction(
    catalog: ProgrammeCatalog, query: str, code: str
) -> None:
    result = catalog.lookup(query)
    assert result.kind == "code"
    assert result.codes == (code,)


def test_field_code_lists_its_directions_and_asks_which(catalog: ProgrammeCatalog) -> None:
    result = catalog.lookup("6B06")
    assert result.kind == "field"
    assert result.codes == ("6B061", "6B062", "6B063")
    assert result.needs_clarification and result.reason is Reason.FIELD_CODE
    # all three are outside Appendix 1 with the general cap, so the common answer is known
    assert result.online_allowed is True
    assert result.dl_cap is DLCap.FIFTY


def test_pedagogical_field_in_cyrillic_has_one_answer_for_all(catalog: ProgrammeCatalog) -> None:
    result = catalog.lookup("6в01")
    assert set(result.codes) == set(PEDAGOGICAL[:9])
    assert result.online_allowed is False
    assert result.dl_cap is DLCap.NONE


@pytest.mark.parametrize("query", ["6B999", "6B13", "7M000", "8D999", "7B061", "6B0"])
def test_unknown_code_is_reported_as_not_found(catalog: ProgrammeCatalog, query: str) -> None:
    result = catalog.lookup(query)
    assert not result.found
    assert result.needs_clarification
    assert result.reason is Reason.UNKNOWN_CODE
    assert result.online_allowed is None and result.dl_cap is None


# --- names and typos --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "suffix"),
    [
        ("ветеринария", "091"),
        ("ветеринариа", "091"),
        ("ветеренария", "091"),
        ("Ветеринария", "091"),
        ("veterinary", "091"),
        ("vet", "091"),
        ("veterinery", "091"),
        ("мал дәрігері", "091"),
        ("IT", "061"),
        ("айти", "061"),
        ("программист", "061"),
        ("информационные системы", "061"),
        ("ақпараттық жүйелер", "061"),
        ("акпараттык жуйелер", "061"),  # no Kazakh keyboard
        ("юрист", "042"),
        ("юриспруденция", "042"),
        ("заңгер", "042"),
        ("lawyer", "042"),
        ("jurisprudance", "042"),
        ("public health", "101"),
        ("publc helth", "101"),
        ("Денсаулық сақтау", "101"),
        ("общественное здравоохранение", "101"),
        ("нефтегазовое дело", "072"),
        ("Инженерлік және инженерлік", "071"),  # as printed in Appendix 1
    ],
)
def test_name_alias_or_typo_finds_the_direction(
    catalog: ProgrammeCatalog, query: str, suffix: str
) -> None:
    result = catalog.lookup(query)
    assert result.kind == "name"
    assert suffixes(result) == {suffix}
    assert not result.needs_clarification or result.reason is Reason.ARTS_PROGRAMME


def test_ambiguous_name_offers_candidates(catalog: ProgrammeCatalog) -> None:
    result = catalog.lookup("психология")
    assert result.needs_clarification and result.reason is Reason.AMBIGUOUS_NAME
    assert {"011", "031"} <= suffixes(result)
    # pedagogy and psychology is in Appendix 1, social sciences is not: no common verdict
    assert result.online_allowed is None


def test_level_word_narrows_a_name_to_master(catalog: ProgrammeCatalog) -> None:
    assert catalog.lookup("магистратура право").codes == ("7M042",)
    assert catalog.lookup("бакалавриат ветеринария").codes == ("6B091",)


def test_question_sentence_still_finds_the_direction(catalog: ProgrammeCatalog) -> None:
    assert suffixes(catalog.lookup("Can I study public health online?")) == {"101"}


@pytest.mark.parametrize(
    "query", ["", "   ", "!!!", "🙂", "a", "asdfghjkl qwerty", "x" * 10_000, "6", "\x00\n\t"]
)
def test_empty_or_garbage_input_does_not_crash(catalog: ProgrammeCatalog, query: str) -> None:
    result = catalog.lookup(query)
    assert not result.found
    assert result.needs_clarification
    assert result.reason in {Reason.EMPTY_QUERY, Reason.NOT_FOUND, Reason.UNKNOWN_CODE}
    json.dumps(result.to_dict())


# --- the rules --------------------------------------------------------------------------------


def test_exactly_the_appendix_1_directions_are_flagged(catalog: ProgrammeCatalog) -> None:
    flagged = sorted(d.code for d in catalog.directions if d.appendix_1)
    assert flagged == sorted(APPENDIX_1)


@pytest.mark.parametrize("code", APPENDIX_1)
def test_each_appendix_1_direction_is_refused_online(catalog: ProgrammeCatalog, code: str) -> None:
    result = catalog.lookup(code)
    assert result.online_allowed is False
    assert {"6.2", "appendix-1"} <= set(result.clauses)


def test_6b073_keeps_the_printed_name_and_says_it_repeats_6b072(catalog: ProgrammeCatalog) -> None:
    for prefix in ("6B", "7M"):
        d = catalog.by_code[f"{prefix}073"]
        assert d.appendix_1_name_kk == catalog.by_code[f"{prefix}072"].appendix_1_name_kk
        assert d.name_in("ru") == "Архитектура и строительство"
        assert f"{prefix}072" in (d.note_in("en") or "")


@pytest.mark.parametrize("query", ["6B042", "7M042", "право", "юрист"])
def test_law_is_capped_at_20_percent(catalog: ProgrammeCatalog, query: str) -> None:
    result = catalog.lookup(query)
    assert result.dl_cap is DLCap.TWENTY
    assert result.online_allowed is True
    assert result.clauses == ("5.4.5", "6.2", "appendix-1")


@pytest.mark.parametrize("code", PEDAGOGICAL)
def test_pedagogical_has_no_distance_learning_except_5_4_6(
    catalog: ProgrammeCatalog, code: str
) -> None:
    result = catalog.lookup(code)
    assert result.dl_cap is DLCap.NONE
    assert result.online_allowed is False
    assert result.clauses == ("5.4.6", "6.2", "appendix-1")


@pytest.mark.parametrize("query", ["6B021", "7m021", "искусство", "өнер", "arts"])
def test_arts_code_alone_asks_whether_music_or_choreography(
    catalog: ProgrammeCatalog, query: str
) -> None:
    result = catalog.lookup(query)
    assert result.dl_cap is DLCap.ASK
    assert result.needs_clarification and result.reason is Reason.ARTS_PROGRAMME
    assert result.clauses == ("5.4.5", "5.4.7", "6.2", "appendix-1")


@pytest.mark.parametrize(
    ("query", "cap", "clause"),
    [
        ("музыка", DLCap.TWENTY, "5.4.5"),
        ("хореография", DLCap.TWENTY, "5.4.5"),
        ("choreography", DLCap.TWENTY, "5.4.5"),
        ("дизайн", DLCap.FIFTY, "5.4.7"),
        ("изобразительное искусство", DLCap.FIFTY, "5.4.7"),
    ],
)
def test_naming_the_arts_programme_settles_the_cap(
    catalog: ProgrammeCatalog, query: str, cap: DLCap, clause: str
) -> None:
    result = catalog.lookup(query)
    assert suffixes(result) == {"021"}
    assert result.dl_cap is cap
    assert not result.needs_clarification
    assert result.clauses == (clause, "6.2", "appendix-1")


@pytest.mark.parametrize("query", ["6B061", "6B06102", "IT", "программист"])
def test_it_may_be_studied_online_with_half_at_a_distance(
    catalog: ProgrammeCatalog, query: str
) -> None:
    result = catalog.lookup(query)
    assert result.online_allowed is True
    assert result.dl_cap is DLCap.FIFTY
    assert not result.needs_clarification
    assert result.clauses == ("5.4.7", "6.2", "appendix-1")


def test_clause_ids_are_in_the_regulations_order(catalog: ProgrammeCatalog) -> None:
    for d in catalog.directions:
        clauses = catalog.lookup(d.code).clauses
        assert list(clauses) == sorted(clauses, key=CLAUSE_ORDER.index)


def test_json_form_carries_the_structured_verdict(catalog: ProgrammeCatalog) -> None:
    data = json.loads(json.dumps(catalog.lookup("6в09101").to_dict()))
    assert data["online_allowed"] is False
    assert data["dl_cap"] == "50"
    assert data["candidates"][0]["code"] == "6B091"
    assert data["candidates"][0]["appendix_1_name_kk"] == "Ветеринария"


def test_lookup_is_fast(catalog: ProgrammeCatalog) -> None:
    queries = ["6B06102", "6в061", "ветеренария", "publc helth", "юрист", "психология", "zzz"]
    timings = []
    for _ in range(20):
        for q in queries:
            start = time.perf_counter()
            catalog.lookup(q)
            timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.001


# --- mentions in free text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("6в06102 бағдарламасы мен 7М071 онлайн бола ма?", ["6B06102", "7M071"]),
        ("My code is 6B061, and my friend's is 7m042.", ["6B061", "7M042"]),
        ("Код 6В01101, а не 6B01101", ["6B01101"]),
        ("В 2024 году 16B061 и 6 курсов", []),
        ("", []),
    ],
)
def test_code_like_tokens_are_extracted_from_sentences(text: str, codes: list[str]) -> None:
    assert find_programme_mentions(text) == codes


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("Can I study public health online?", "101"),
        ("ветеринарияны онлайн оқуға бола ма", "091"),
        ("Можно ли учиться онлайн на ветеринарии?", "091"),
        ("Геология мамандығы бойынша онлайн оқуға бола ма?", "055"),
        ("Сколько процентов дисциплин можно учить дистанционно юристу?", "042"),
        ("Is IT allowed online?", "061"),
        ("хочу на музыкальное искусство онлайн", "021"),
    ],
)
def test_direction_name_is_found_in_a_question(
    catalog: ProgrammeCatalog, text: str, suffix: str
) -> None:
    mentions = catalog.find_name_mentions(text)
    assert mentions, text
    assert {c[2:] for c in mentions[0].codes} == {suffix}
    assert mentions[0].score >= 88
    assert suffixes(catalog.lookup(mentions[0].query)) == {suffix}


@pytest.mark.parametrize(
    "text",
    [
        "имею ли я право учиться онлайн?",  # "право" = a right, not law
        "can I do it online?",  # "it" is not IT
        "Медициналық анықтама керек пе?",  # a health certificate, not health care
        "Что делает центр разработки и развития ИКТ?",
        "Әскери есепке қалай тұрамын?",
        "Can my programme be moved online?",
    ],
)
def test_ordinary_words_are_not_taken_for_programmes(catalog: ProgrammeCatalog, text: str) -> None:
    assert catalog.find_name_mentions(text) == []


# --- the answer the student reads --------------------------------------------------------------

CITATION = {
    "kk": re.compile(r"\d(\.\d)+-тармақ|1-қосымша"),
    "ru": re.compile(r"п\. \d(\.\d)+|приложение 1"),
    "en": re.compile(r"clause \d(\.\d)+|Appendix 1"),
}


@pytest.mark.parametrize(
    ("lang", "refused", "rule", "listed"),
    [
        ("kk", "рұқсат етілмейді", "6.2-тармақ", "1-қосымша"),
        ("ru", "не допускается", "п. 6.2", "приложение 1"),
        ("en", "not allowed", "clause 6.2", "Appendix 1"),
    ],
)
def test_verdict_for_veterinary_refuses_online_in_each_language(
    catalog: ProgrammeCatalog, i18n: I18n, lang: str, refused: str, rule: str, listed: str
) -> None:
    text = render_verdict(catalog.lookup("6B091"), lang)
    assert "<b>6B091</b>" in text
    assert refused in text and rule in text and listed in text
    assert "«Ветеринария»" in text  # the name as printed in Appendix 1
    for line in text.splitlines()[1:]:
        assert CITATION[lang].search(line), line


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("kk", "5.4.5-тармақ"), ("ru", "п. 5.4.5"), ("en", "clause 5.4.5")],
)
def test_verdict_for_law_states_20_percent_with_its_clause(
    catalog: ProgrammeCatalog, i18n: I18n, lang: str, expected: str
) -> None:
    text = render_verdict(catalog.lookup("юрист"), lang)
    assert "20" in text and expected in text


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("kk", "хореография ма?"), ("ru", "хореография?"), ("en", "choreography?")],
)
def test_verdict_for_arts_asks_about_the_programme(
    catalog: ProgrammeCatalog, i18n: I18n, lang: str, expected: str
) -> None:
    assert render_verdict(catalog.lookup("6B021"), lang).endswith(expected)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("kk", "37-2-бабының"), ("ru", "статьи 37-2"), ("en", "article 37-2")],
)
def test_verdict_for_pedagogy_mentions_the_legal_exception(
    catalog: ProgrammeCatalog, i18n: I18n, lang: str, expected: str
) -> None:
    text = render_verdict(catalog.lookup("6B013"), lang)
    assert expected in text and CITATION[lang].search(text)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("kk", "табылмады"), ("ru", "не найден"), ("en", "was not found")],
)
def test_unknown_code_is_told_plainly(
    catalog: ProgrammeCatalog, i18n: I18n, lang: str, expected: str
) -> None:
    text = render_verdict(catalog.lookup("6B999"), lang)
    assert "<b>6B999</b>" in text and expected in text


def test_ambiguous_name_lists_each_candidate_with_its_own_verdict(
    catalog: ProgrammeCatalog, i18n: I18n
) -> None:
    text = render_verdict(catalog.lookup("психология"), "ru")
    assert "6B011 / 7M011" in text and "6B031 / 7M031" in text
    assert "онлайн: не допускается (п. 6.2)" in text and "онлайн: допускается (п. 6.2)" in text


def test_user_text_is_escaped(catalog: ProgrammeCatalog, i18n: I18n) -> None:
    text = render_verdict(catalog.lookup("<script>alert(1)</script>"), "en")
    assert "<script>" not in text and "&lt;script&gt;" in text


# --- the command line -------------------------------------------------------------------------


def test_cli_answers_in_the_chosen_language(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["programme", "6в09101", "--lang", "ru"]) == 0
    out = capsys.readouterr().out
    assert "6B091" in out and "не допускается" in out and "п. 6.2" in out
    assert "<b>" not in out


def test_cli_json_prints_the_structured_result(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["programme", "public", "health", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["online_allowed"] is False
    assert {c["code"] for c in data["candidates"]} == {"6B101", "7M101"}


def test_cli_unknown_code_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["programme", "6B999", "--lang", "en"]) == 1
    assert "6B999" in capsys.readouterr().out


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_gets_an_answer_without_crashing(text: str) -> None:
    catalog = load_catalog()
    result = catalog.lookup(text)
    assert result.found or result.needs_clarification
    catalog.find_name_mentions(text)
    for code in find_programme_mentions(text):
        assert re.fullmatch(r"[678][BMD]\d{2,7}", code)


def test_question_router_gets_a_verdict_only_when_a_programme_is_named(
    catalog: ProgrammeCatalog,
) -> None:
    named = catalog.lookup_mentioned("Можно ли учиться онлайн на ветеринарии?")
    assert named is not None and named.online_allowed is False
    by_code = catalog.lookup_mentioned("6В06102 бағдарламасын онлайн оқуға бола ма?")
    assert by_code is not None and by_code.codes == ("6B061",) and by_code.online_allowed
    assert catalog.lookup_mentioned("Что такое цифровой след обучающегося?") is None


@pytest.mark.parametrize(
    ("query", "suffix"),
    [
        ("имею ли я право учиться онлайн", None),  # a right, not law
        ("Можно ли учиться онлайн на ветеринарии?", "091"),
        ("Подготовка учителей без предметной специализаци", "013"),  # long name with a typo
        ("Жалпы дамудың пәндік мамандануы бар мұғалімдерді даярлау", "014"),  # 7 words
    ],
)
def test_sentences_are_searched_for_names_not_matched_word_by_word(
    catalog: ProgrammeCatalog, query: str, suffix: str | None
) -> None:
    result = catalog.lookup(query)
    assert suffixes(result) == ({suffix} if suffix else set())


@pytest.mark.parametrize(
    ("lang", "question", "code"),
    [
        ("ru", "хочу поступить на геологию онлайн это возможно", "6B055"),
        ("ru", "поступить онлайн на геологию", "6B055"),
        ("kk", "геология мамандыгына онлайн тусуге бола ма", "6B055"),
        ("en", "can I enrol in geology online", "6B055"),
    ],
)
def test_an_applicant_naming_a_programme_gets_its_online_verdict(
    lang: str, question: str, code: str
) -> None:
    """Admission words make 6.1 score highest, but an applicant who names a programme asks
    whether that programme may be studied online (6.2, Appendix 1)."""
    from bot.services.answers import AnswerKind, AnswerService

    answer = AnswerService().answer(question, lang)
    assert answer.kind is AnswerKind.PROGRAMME
    assert answer.primary in {"6.2", "appendix-1"}
    assert code in answer.text


def test_how_to_enrol_without_a_programme_still_gets_the_admission_clause() -> None:
    from bot.services.answers import AnswerService

    answer = AnswerService().answer("как поступить на онлайн обучение", "ru")
    assert answer.primary == "6.1"
