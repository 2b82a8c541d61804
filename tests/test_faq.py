"""The university FAQ and the offices (issue 12): the data, the matcher, the hook into the
answer path, and what a student sees for each kind of question the regulation does not cover."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.services.answers import Answer, AnswerKind, AnswerService, load_knowledge
from bot.services.faq import (
    AnsweringWithFaq,
    FaqAnswer,
    FaqService,
    base_snapshot,
    build_snapshot,
)
from knowledge.faq import (
    PLACEHOLDER,
    ClauseExample,
    FaqDataError,
    FaqEntry,
    Office,
    load_faq_files,
    load_offices,
    load_offices_data,
    parse_entries,
)
from tests.faq_support import harness_pair
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser

LANGS = ("kk", "ru", "en")
USERS = {"kk": STUDENT, "ru": STUDENT_RU, "en": STUDENT_EN}
# Clause citations as the answers print them; an FAQ answer must have none of these lines.
CITATION = re.compile(r"📖|Regulation No\. 066, clause|Положение № 066, п\.|Ереже, .*тармақ")


@pytest.fixture(scope="module")
def answers() -> AnswerService:
    return AnswerService()


@pytest.fixture(scope="module")
def faq(answers: AnswerService) -> FaqService:
    return FaqService(None, None, answers)


# --- the data ---------------------------------------------------------------------------------


def test_the_starter_faq_has_forty_entries_in_three_languages_with_known_offices() -> None:
    entries = load_faq_files()
    offices = load_offices()
    regulation = load_knowledge().regulation
    assert len(entries) >= 40
    for entry in entries:
        assert entry.languages == LANGS, entry.key
        assert all(entry.question.get(lang) for lang in LANGS), entry.key
        assert all(entry.variants.get(lang) for lang in LANGS), entry.key
        assert entry.office in offices, entry.key
        assert entry.reviewed is not None and entry.source, entry.key
        for clause in entry.clauses:
            assert clause in regulation, (entry.key, clause)
            # the clause an entry rests on is named in its text
            assert clause in entry.answer["en"], (entry.key, clause)
        if not entry.clauses:  # the fact is the university's: to be confirmed by the office
            assert entry.to_confirm, entry.key


def test_the_faq_covers_the_topics_the_regulation_touches_only_at_its_edges() -> None:
    tags = {tag for entry in load_faq_files() for tag in entry.tags}
    for topic in (
        "academic mobility",
        "MOOC recognition",
        "proctoring technology",
        "plagiarism checks",
        "Platonus",
        "transfer",
        "tuition fees",
        "dormitory",
        "reinstatement",
        "ECTS",
        "academic debt",
        "summer semester",
        "temporary registration",
    ):
        assert topic in tags, topic


def test_no_entry_invents_a_phone_number_a_fee_an_address_or_an_email() -> None:
    money = re.compile(r"\d[\d\s]*(₸|тг|тенге|теңге|KZT|tenge)", re.IGNORECASE)
    phone = re.compile(r"(\+7|\b8)[\s(-]*7\d{2}|\b\d{3}[- ]\d{2}[- ]\d{2}\b")
    for entry in load_faq_files():
        for text in entry.answer.values():
            assert not money.search(text), (entry.key, text)
            assert not phone.search(text), (entry.key, text)
            assert "@" not in text and "http" not in text, (entry.key, text)


def test_office_contacts_nobody_filled_in_are_dropped_not_shown() -> None:
    raw = load_offices_data()
    assert raw and all(o["contacts"]["phone"] == PLACEHOLDER for o in raw)
    for office in load_offices().values():
        assert office.contacts == {} and office.hours == {} and office.location == {}
        assert all(office.name.get(lang) for lang in LANGS)


def test_a_malformed_entry_is_refused_with_where_and_what() -> None:
    with pytest.raises(FaqDataError, match=r"x\.yaml #1: entry bad: an answer"):
        parse_entries({"entries": [{"id": "bad", "question": {"en": "q"}}]}, where="x.yaml")
    with pytest.raises(FaqDataError, match="unknown language 'de'"):
        parse_entries(
            {"entries": [{"id": "ok-id", "question": {"de": "q"}, "answer": {"en": "a"}}]},
            where="x.yaml",
        )
    with pytest.raises(FaqDataError, match="'reviewed' must be a date"):
        FaqEntry.from_data(
            {"id": "ok-id", "question": {"en": "q"}, "answer": {"en": "a"}, "reviewed": "soon"}
        )


# --- the matcher ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "question", "key"),
    [
        ("ru", "сколько стоит общага в месяц", "dorm-cost"),
        ("kk", "жатакхана айына канша турады", "dorm-cost"),  # without Kazakh letters
        ("kk", "platonus parolin umytyp qaldym", "platonus-access"),  # Kazakh in Latin letters
        ("en", "i forgot my platonus password", "platonus-access"),
        ("ru", "потерял студенческий билет", "student-id-card"),
        ("en", "will my coursera certificate count towards my degree", "mooc-recognition"),
    ],
)
def test_the_matcher_finds_the_entry_students_mean(lang: str, question: str, key: str) -> None:
    [best, *_rest] = base_snapshot().match(question, lang)
    assert best.entry.key == key
    assert best.score >= 0.4


@pytest.mark.parametrize(
    ("lang", "question"),
    [
        ("ru", "какая завтра погода в атырау"),
        ("en", "where can i park my car near the main building"),
        ("kk", "ертең атырауда қар жауа ма"),
        ("en", "Is there a gym at the university?"),
    ],
)
def test_questions_no_entry_answers_match_nothing_well(
    faq: FaqService, lang: str, question: str
) -> None:
    assert faq.match(question, lang) is None


def test_a_staff_entry_in_one_language_is_found_and_the_index_is_rebuilt_with_it() -> None:
    entry = FaqEntry(
        key="staff-0001",
        question={"ru": "где распечатать курсовую"},
        answer={"ru": "В библиотеке."},
        variants={"ru": ("можно ли распечатать курсовую работу",)},
        office="library",
    )
    snap = build_snapshot(1, [*load_faq_files(), entry])
    [best, *_rest] = snap.match("где можно распечатать курсовую?", "ru")
    assert best.entry.key == "staff-0001"
    assert best.entry.served_language("kk") == "ru"
    assert best.entry.served_language("en") == "ru"


def test_the_index_answers_quickly() -> None:
    import time

    snap = base_snapshot()
    start = time.perf_counter()
    for _ in range(100):
        snap.match("сколько стоит общага в месяц и есть ли свободные места", "ru")
    assert (time.perf_counter() - start) / 100 < 0.01  # well under 10 ms a question


# --- the hook into the answer path ------------------------------------------------------------


def _answer(kind: AnswerKind, clauses: tuple[str, ...] = ("5.4.5",)) -> Answer:
    return Answer(kind, clauses, 0.3, "regulation text", "en")


def test_a_confident_clause_always_stands(faq: FaqService) -> None:
    answer = _answer(AnswerKind.ANSWER)
    assert faq.consult("how much does the dorm cost", "en", answer) is answer


def test_not_covered_becomes_the_faq_answer_then_the_office_then_stays(faq: FaqService) -> None:
    faq_answer = faq.consult("how much does the dorm cost", "en", _answer(AnswerKind.OUT_OF_SCOPE))
    assert isinstance(faq_answer, FaqAnswer) and faq_answer.kind is AnswerKind.FAQ
    assert faq_answer.entry_key == "dorm-cost" and faq_answer.office_id == "housing"
    assert faq_answer.primary is None and faq_answer.suggestions == ()
    routed = faq.consult("is the volleyball section free", "en", _answer(AnswerKind.OUT_OF_SCOPE))
    assert routed.kind is AnswerKind.OFFICE and routed.office_id == "student_affairs"  # type: ignore[attr-defined]
    assert "Regulation No. 066 does not cover this; Student Affairs" in routed.plain
    nothing = _answer(AnswerKind.OUT_OF_SCOPE)
    assert faq.consult("is it gonna snow tomorrow", "en", nothing) is nothing


def test_unsure_yields_only_to_a_clear_faq_match_and_is_never_routed(faq: FaqService) -> None:
    unsure = _answer(AnswerKind.UNSURE)
    assert faq.consult("how much does the dorm cost", "en", unsure).kind is AnswerKind.FAQ
    assert faq.consult("is the volleyball section free", "en", unsure) is unsure


@pytest.mark.parametrize("lang", LANGS)
def test_an_faq_answer_never_carries_a_clause_citation(faq: FaqService, lang: str) -> None:
    for entry in load_faq_files():
        answer = faq.faq_answer(entry, lang, ranked=("6.17", "6.2"))
        assert not CITATION.search(answer.text), (entry.key, answer.text)
        assert "🗂 FAQ · " in answer.text
        assert answer.primary is None


def test_an_entry_resting_on_the_regulation_names_the_clause_in_its_text(
    faq: FaqService,
) -> None:
    entry = next(e for e in load_faq_files() if e.key == "fee-form-transfer")
    text = faq.faq_answer(entry, "en").plain
    assert "see clause 6.17" in text and "FAQ · Accounting and Finance Office" in text


def test_known_contacts_are_shown_escaped_and_unknown_ones_not_at_all(
    faq: FaqService,
) -> None:
    bare = load_offices()["registrar"]
    routed = faq.office_answer(bare, "en").text
    assert "☎️" not in routed and "I do not have this office's contacts yet" in routed
    filled = Office(
        id="registrar",
        name=bare.name,
        contacts={"phone": "+7 (7122) 00-00-00", "email": "<b>office@example.kz</b>"},
        hours={"en": "Mon–Fri 9:00–18:00"},
    )
    text = faq.office_answer(filled, "en").text
    assert "☎️ +7 (7122) 00-00-00 · ✉️ &lt;b&gt;office@example.kz&lt;/b&gt;" in text
    assert "🕘 Mon–Fri 9:00–18:00" in text and "📍" not in text


def test_studentbot_ask_answers_as_the_bot(answers: AnswerService) -> None:
    path = AnsweringWithFaq(answers)
    answer = path.answer("how do i apply for a dorm room", "en")
    assert answer.kind in (AnswerKind.FAQ, AnswerKind.ANSWER)  # the search may claim it
    if answer.kind is AnswerKind.FAQ:
        assert "FAQ · Student Housing" in answer.plain


# --- what students see, for each kind of question the regulation does not cover -------------

# (kind, language, a question the FAQ answers, a question only an office handles, office name)
OFF_TOPIC = [
    (
        "fees",
        "en",
        "can i pay the tuition in instalments",
        "who signs my payment receipt",
        "Accounting and Finance Office",
    ),
    (
        "dormitory",
        "kk",
        "жатақханаға қалай орналасамын",
        "жатақханада кір жуатын машина бар ма",
        "Студенттер үйі",
    ),
    (
        "transfer / reinstatement",
        "en",
        "i was expelled last year, can i be reinstated",
        "reinstatement order number",
        "Registrar's Office",
    ),
    (
        "academic mobility",
        "ru",
        "какие документы собрать для академической мобильности",
        "кто координатор по мобильности на нашем факультете",
        "международного сотрудничества",
    ),
    (
        "ECTS",
        "en",
        "how many ECTS is one kazakh credit",
        "ECTS grade letters on my diploma",
        "Registrar's Office",
    ),
    (
        "exam technology",
        "kk",
        "онлайн емтихан кезінде интернет үзіліп кетсе не болады",
        "прокторинг бағдарламасы ашылмайды",
        "АКТ әзірлеу және дамыту орталығы",
    ),
    (
        "academic debt",
        "ru",
        "у меня академ задолженность что теперь будет",
        "сколько хвостов можно иметь, задолженность по физкультуре",
        "Офис регистратора",
    ),
    (
        "summer semester",
        "en",
        "when does the summer semester start",
        "summer semester group list",
        "Registrar's Office",
    ),
    (
        "temporary registration",
        "ru",
        "нужна ли временная регистрация если я из другого города",
        "временная регистрация иностранного студента продление",
        "молодёжной политике",
    ),
]


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async for h in harness_pair(database_url):
        yield h


async def test_each_off_topic_kind_gets_the_faq_answer_of_its_office(harness: Harness) -> None:
    for kind, lang, asked, _other, office in OFF_TOPIC:
        user: TgUser = USERS[lang]
        await harness.send(asked, user=user)
        text = harness.last_text(user.id)
        assert "🗂 FAQ · " in text and office in text.split("🗂 FAQ · ")[1], (kind, text)
        assert not CITATION.search(text), kind
        labels = harness.buttons(user.id)
        assert labels[-1] in ("🙋 Ask a person", "🙋 Спросить человека", "🙋 Қызметкерден сұрау")
        assert not any(label.startswith("📄") for label in labels), kind


async def test_each_off_topic_kind_is_routed_to_its_office_when_no_entry_answers(
    harness: Harness,
) -> None:
    faq = harness.ctx.services.faq
    await faq.refresh()
    faq.snapshot = build_snapshot(faq.snapshot.version, ())  # an FAQ with no entries
    covers = {
        "en": "Regulation No. 066 does not cover this; ",
        "ru": "Положение № 066 этого не касается; этим занимается ",
        "kk": "№ 066 Ереже бұл мәселені қамтымайды; бұл мәселемен ",
    }
    for kind, lang, _asked, other, office in OFF_TOPIC:
        user: TgUser = USERS[lang]
        await harness.send(other, user=user)
        text = harness.last_text(user.id)
        assert text.startswith(covers[lang]) and office in text.split("\n")[0], (kind, text)
        assert "FAQ ·" not in text and not CITATION.search(text), kind
        assert harness.buttons(user.id)[-1].startswith("🙋"), kind


async def test_a_question_no_office_handles_goes_to_the_helpdesk(harness: Harness) -> None:
    await harness.send("is it gonna snow tomorrow in atyrau", user=STUDENT_EN)
    assert "Regulation No. 066 does not cover this." in harness.last_text(STUDENT_EN.id)
    assert harness.buttons(STUDENT_EN.id) == ["🙋 Ask a person"]


async def test_the_faq_answers_in_the_users_language_whatever_the_question_is_typed_in(
    harness: Harness,
) -> None:
    await harness.send("сколько стоит общага в месяц", user=STUDENT_EN)
    text = harness.last_text(STUDENT_EN.id)
    assert "How much does the dormitory cost?" in text and "Student Housing" in text


def test_the_index_is_built_from_entries_and_examples() -> None:
    snap = build_snapshot(
        1, load_faq_files(), [ClauseExample("можно ли сдавать сессию из больницы", "ru", "5.4.1")]
    )
    assert snap.matcher.kinds.count("faq") == len(load_faq_files())
    assert snap.matcher.kinds.count("clause") == len(load_knowledge().regulation.clauses)
    taught = snap.taught_clause("можно ли сдавать сессию из больницы?")
    assert taught is not None and taught[0] == "5.4.1" and taught[1] > 0.99
