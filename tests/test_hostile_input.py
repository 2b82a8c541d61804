"""Hostile and broken input: forged buttons, absurd commands, huge or invisible texts, wrong
files, Bot API errors on every send path, the database gone for a moment.

Each story checks the same three things: the user hears something clear, the bot keeps
answering (the next /help works), and nothing already stored is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, TelegramMethod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from bot.db.base import Base
from bot.db.models import User
from bot.metrics import metrics
from bot.states import ApplyForm
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser

Snapshot = dict[str, set[tuple[Any, ...]]]


async def snapshot(h: Harness) -> Snapshot:
    """Primary keys of every row in every table (the update ledger excepted)."""
    out: Snapshot = {}
    async with h.ctx.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "processed_updates":
                continue
            pk = list(table.primary_key.columns)
            rows = (await session.execute(select(*pk))).all()
            out[table.name] = {tuple(row) for row in rows}
    return out


async def assert_nothing_lost(h: Harness, before: Snapshot) -> None:
    after = await snapshot(h)
    lost = {name: keys - after.get(name, set()) for name, keys in before.items()}
    assert {name: keys for name, keys in lost.items() if keys} == {}


async def assert_still_answers(h: Harness, user: TgUser = STUDENT_EN) -> None:
    calls = await h.send("/help", user=user)
    assert any(isinstance(c, SendMessage) and "/rules" in c.text for c in calls), calls


def handler_errors() -> float:
    return metrics.value("studentbot_errors_total", kind="handler")


async def settled_student(h: Harness, user: TgUser = STUDENT_EN) -> None:
    """A student who picked a language and asked a question: rows worth keeping."""
    await h.send("/start", user=user)
    await h.click(f"lang:{user.language_code}", user=user)
    await h.send("Can I study law online?", user=user)


# ------------------------------------------------------------------ forged callback data

FORGED = [
    "",
    "x",
    ":",
    "::::",
    "lang",
    "lang:",
    "lang:xx",
    "lang:kk:extra",
    "ap",
    "ap:",
    "ap:submit",
    "ap:kind:nonsense",
    "ap:course:99999999999999999999",
    "ap:accept",
    "apd:1:approve:0",
    "apd:99999999999999999999:approve:1",
    "apd:x:y:z",
    "hdclose:1",
    "hdclose:-5",
    "hdclose:abc",
    "hdrate:1:5",
    "hdrate:1:999",
    "hdtopic:../../etc/passwd",
    "forget:0",
    "forget:maybe",
    "ans:full:999999",
    "ans:x:notint",
    "rules:clause:99.99",
    "rules:" + "9" * 58,
    "bca:everyone:",
    "bcs:confirm",
    "bc:cancel:1",
    "rem:all",
    "cal:delete:1",
    "prof:faculty:x",
    "human:999999",
    "human:-1",
    "\u200b\u200b",
    "ap:" + "я" * 30,
]


async def test_forged_and_truncated_buttons_are_refused_politely(harness: Harness) -> None:
    await settled_student(harness)
    before = await snapshot(harness)
    errors = handler_errors()
    silent = []
    for data in FORGED:
        calls = await harness.click(data, user=STUDENT_EN)
        if not any(isinstance(c, AnswerCallbackQuery) for c in calls):
            silent.append(data)
    assert silent == [], f"presses left without an answer (spinner keeps turning): {silent}"
    assert handler_errors() == errors, "a forged button crashed a handler"
    await assert_nothing_lost(harness, before)
    await assert_still_answers(harness)


async def test_a_forged_forget_confirmation_without_the_prompt_deletes_nothing(
    harness: Harness,
) -> None:
    await settled_student(harness)
    before = await snapshot(harness)
    await harness.click("forget:1", user=STUDENT_EN)
    await assert_nothing_lost(harness, before)


async def test_a_button_of_another_users_ticket_changes_nothing(harness: Harness) -> None:
    from bot.db.models.helpdesk import Ticket

    await harness.send("/human", user=STUDENT_EN)
    await harness.click_button("Technical", user=STUDENT_EN)
    await harness.send("My LMS password does not work", user=STUDENT_EN)
    async with harness.ctx.sessionmaker() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    errors = handler_errors()

    # Another student presses "close" and "rate 1" of that ticket with forged data.
    await harness.click(f"hdclose:{ticket.id}", user=STUDENT_RU)
    await harness.click(f"hdrate:{ticket.id}:1", user=STUDENT_RU)
    # ... and a staff decision on an application that does not exist.
    await harness.click("apd:1:approve:0", user=STUDENT_RU)
    async with harness.ctx.sessionmaker() as session:
        again = await session.get(Ticket, ticket.id)
        assert again is not None
        assert again.status == ticket.status and again.rating is None
    assert handler_errors() == errors
    assert all(isinstance(c, AnswerCallbackQuery) for c in harness.session.requests[-3:])


# ------------------------------------------------------------------ absurd commands and texts

ABSURD = [
    "/start " + "A" * 4000,
    "/start ../../../etc/passwd",
    "/help me please now " * 100,
    "/language zz yy",
    "/apply " + "1" * 500,
    "/cancel now",
    "/rules 99999999999999999999999",
    "/rules -1",
    "/rules '; DROP TABLE users; --",
    "/human " + "💥" * 300,
    "/forget everything",
    "/mydata %s%s%s%n",
    "/join 999999999999999999999999999",
    "/broadcast hello",
    "/close 0",
    "/take -1",
    "/ban 99999999999999999999",
    "/" + "x" * 200,
    "/help@some_other_bot",
]


async def test_commands_with_absurd_arguments_get_an_answer(harness: Harness) -> None:
    await settled_student(harness, STUDENT_RU)
    before = await snapshot(harness)
    errors = handler_errors()
    unanswered = []
    for text in ABSURD:
        calls = await harness.send(text, user=STUDENT_RU)
        if not any(isinstance(c, (SendMessage, SendDocument)) for c in calls):
            unanswered.append(text[:40])
        await harness.send("/cancel", user=STUDENT_RU)  # leave any wizard it opened
    assert handler_errors() == errors
    assert unanswered in ([], ["/help@some_other_bot"]), unanswered
    await assert_nothing_lost(harness, before)
    await assert_still_answers(harness, STUDENT_RU)


@pytest.mark.parametrize(
    "text",
    [
        "я" * 4096,
        "Can I study online? " * 204 + "abcd",  # exactly 4,084 then 4,096 characters
        "\u200b",
        "\u200b\u200c\u200d\u2060\ufeff" * 50,
        "\u202e\u202d",
        " \n\t ",
        "\x00\x01\x02",
        "👍" * 2000,
        "<b>" * 1000,
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ],
    ids=[
        "4096-cyrillic",
        "4096-question",
        "zwsp",
        "zero-width-mix",
        "bidi",
        "whitespace",
        "control",
        "emoji",
        "tags",
        "entities",
    ],
)
async def test_huge_and_invisible_texts_get_a_clear_answer(harness: Harness, text: str) -> None:
    errors = handler_errors()
    calls = await harness.send(text, user=STUDENT_EN)
    replies = [c for c in calls if isinstance(c, SendMessage)]
    assert replies, "no answer"
    for reply in replies:
        assert reply.text.strip(), "an empty reply"
        assert len(reply.text) <= 4096
    assert handler_errors() == errors
    await assert_still_answers(harness)


# ------------------------------------------------------------------ files


async def at_document_step(h: Harness, user: TgUser) -> None:
    state = h.dp.fsm.get_context(h.bot, chat_id=user.id, user_id=user.id)
    await state.set_state(ApplyForm.document)
    await state.set_data({"kind": "dl", "ground": "health"})


@pytest.mark.parametrize(
    ("document", "hint"),
    [
        (
            {"file_name": "virus.exe", "mime_type": "application/x-msdownload", "file_size": 1000},
            "not accepted",
        ),
        (
            {
                "file_name": "huge.pdf",
                "mime_type": "application/pdf",
                "file_size": 50 * 1024 * 1024,
            },
            "50",
        ),
        ({"file_name": "noext", "file_size": 10}, None),
        (
            {
                "file_name": "a.docm",
                "mime_type": "application/vnd.ms-word.document.macroEnabled.12",
                "file_size": 2000,
            },
            None,
        ),
    ],
    ids=["exe", "50MB-pdf", "no-type", "macro-doc"],
)
async def test_a_document_of_the_wrong_type_or_50mb_is_refused_with_a_reason(
    harness: Harness, document: dict[str, Any], hint: str | None
) -> None:
    await settled_student(harness)
    await at_document_step(harness, STUDENT_EN)
    before = await snapshot(harness)
    errors = handler_errors()
    calls = await harness.send_content(
        STUDENT_EN, document={"file_id": "f1", "file_unique_id": "u1", **document}
    )
    texts = [c.text for c in calls if isinstance(c, SendMessage)]
    assert texts, "no answer to the file"
    if hint:
        assert hint in " ".join(texts)
    state = harness.dp.fsm.get_context(harness.bot, chat_id=STUDENT_EN.id, user_id=STUDENT_EN.id)
    assert await state.get_state() == ApplyForm.document.state  # asked again, not advanced
    assert handler_errors() == errors
    await assert_nothing_lost(harness, before)


async def test_a_50mb_file_outside_any_wizard_gets_a_text_only_hint(harness: Harness) -> None:
    errors = handler_errors()
    calls = await harness.send_content(
        STUDENT_EN,
        document={
            "file_id": "f",
            "file_unique_id": "u",
            "file_name": "x.zip",
            "mime_type": "application/zip",
            "file_size": 50 * 1024 * 1024,
        },
    )
    assert any(isinstance(c, SendMessage) for c in calls)
    assert handler_errors() == errors
    await assert_still_answers(harness)


# ------------------------------------------------------------------ Bot API errors


def api_errors(method: TelegramMethod[Any] | Any) -> list[tuple[str, BaseException]]:
    return [
        ("400", TelegramBadRequest(method, "Bad Request: message text is empty")),
        ("403", TelegramForbiddenError(method, "Forbidden: bot was blocked by the user")),
        ("429", TelegramRetryAfter(method, "Too Many Requests: retry after 5", retry_after=5)),
        ("500", TelegramServerError(method, "Internal Server Error")),
        ("timeout", TelegramNetworkError(method, "Request timeout error")),
    ]


ERROR_IDS = ["400", "403", "429", "500", "timeout"]


@pytest.mark.parametrize("which", range(5), ids=ERROR_IDS)
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("command reply", "sendMessage"),
        ("question answer", "sendMessage"),
        ("button answer", "answerCallbackQuery"),
        ("button edit", "editMessageText"),
        ("helpdesk topic", "createForumTopic"),
        ("helpdesk relay", "copyMessage"),
    ],
)
async def test_bot_api_errors_on_every_send_path_leave_the_bot_running(
    harness: Harness, path: str, method: str, which: int
) -> None:
    await settled_student(harness)
    if path == "helpdesk relay":
        await harness.send("/human", user=STUDENT_EN)
        await harness.click_button("Technical", user=STUDENT_EN)
        await harness.send("first message", user=STUDENT_EN)
    before = await snapshot(harness)
    _label, exc = api_errors(None)[which]
    harness.session.fail_next(method, exc)
    if path == "command reply":
        await harness.send("/help", user=STUDENT_EN)
    elif path == "question answer":
        await harness.send("Can I study law online?", user=STUDENT_EN)
    elif path in ("button answer", "button edit"):
        await harness.send("/language", user=STUDENT_EN)
        await harness.click("lang:en", user=STUDENT_EN)
    elif path == "helpdesk topic":
        await harness.send("/human", user=STUDENT_EN)
        await harness.click_button("Technical", user=STUDENT_EN)
        await harness.send("My LMS password does not work", user=STUDENT_EN)
    else:
        await harness.send("second message", user=STUDENT_EN)
    harness.session._failures.pop(method, None)  # the path may not have called it
    await assert_nothing_lost(harness, before)
    await harness.send("/cancel", user=STUDENT_EN)
    await assert_still_answers(harness)
    async with harness.ctx.sessionmaker() as session:
        user = await session.get(User, STUDENT_EN.id)
        assert user is not None and user.language == "en"


async def test_a_failed_relay_to_the_staff_chat_is_explained_to_the_student(
    harness: Harness,
) -> None:
    await settled_student(harness)
    await harness.send("/human", user=STUDENT_EN)
    await harness.click_button("Technical", user=STUDENT_EN)
    harness.session.fail_next("createForumTopic", TelegramServerError(None, "Bad Gateway"))  # type: ignore[arg-type]
    harness.session.fail_next("sendMessage", TelegramServerError(None, "Bad Gateway"))  # type: ignore[arg-type]
    calls = await harness.send("My LMS password does not work", user=STUDENT_EN)
    to_student = [c for c in calls if isinstance(c, SendMessage) and c.chat_id == STUDENT_EN.id]
    assert to_student, [type(c).__name__ for c in calls]


# ------------------------------------------------------------------ database unavailable


@contextmanager
def database_down(h: Harness) -> Iterator[None]:
    """Every statement fails as if the server were unreachable, until the block ends."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))

    event.listen(h.ctx.engine.sync_engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(h.ctx.engine.sync_engine, "before_cursor_execute", refuse)


async def test_database_briefly_unavailable_the_student_is_told_and_nothing_is_lost(
    harness: Harness,
) -> None:
    await settled_student(harness)
    before = await snapshot(harness)
    with database_down(harness):
        calls = await harness.send("Can I study law online?", user=STUDENT_EN)
        texts = [c.text for c in calls if isinstance(c, SendMessage)]
        assert texts, "the student heard nothing"
        assert any("try again" in t for t in texts), texts
        # A change that must be written (the user row and the state come from the hot cache,
        # so only the write meets the outage): refused, the button answered.
        await harness.click("lang:ru", user=STUDENT_EN)
        assert isinstance(harness.session.requests[-1], AnswerCallbackQuery)
    await assert_nothing_lost(harness, before)
    await assert_still_answers(harness)
    async with harness.ctx.sessionmaker() as session:
        user = await session.get(User, STUDENT_EN.id)
        assert user is not None and user.language == "en"


async def test_the_update_ledger_down_alone_does_not_lose_the_update(harness: Harness) -> None:
    """If only the claim fails, the update is handled anyway (never silently dropped)."""
    reliability = harness.dp["reliability"]

    async def broken(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("down"))

    reliability.ledger.claim = broken
    calls = await harness.send("/help", user=STUDENT)
    assert any(isinstance(c, SendMessage) for c in calls)


# ------------------------------------------------------------------ property-based

# Text a student might paste: any Unicode, weighted towards scripts, digits, punctuation,
# invisible characters and HTML that our answers and validators must cope with.
STUDENT_TEXT = st.one_of(
    st.text(max_size=1500),
    st.text(
        alphabet=st.sampled_from(
            [
                *"абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі ABCxyz0123456789.,-:/+()<>&'\"",
                *("\u200b", "\u200d", "\ufeff", "\u202e", "\n", "\t", "💥", "\u0301"),
                *"²¹٣３",  # non-ASCII digits: isdigit() is true for all, int() fails on some
            ]
        ),
        max_size=300,
    ),
)
LANG = st.sampled_from(["kk", "ru", "en"])


@pytest.fixture(scope="module")
def answer_service() -> Any:
    from bot.services.answers import AnswerService

    return AnswerService()


@given(question=STUDENT_TEXT, lang=LANG)
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_gets_a_bounded_answer_in_the_asked_language(
    answer_service: Any, question: str, lang: str
) -> None:
    from bot.services.answers import AnswerKind

    answer = answer_service.answer(question, lang)
    assert answer.kind in set(AnswerKind)
    assert answer.lang == lang
    assert answer.text.strip()
    assert len(answer.text) <= 4096
    assert 0.0 <= answer.confidence <= 1.0


@pytest.mark.parametrize("text", ["²", "2²", "¹²³"])
def test_a_superscript_course_year_is_refused_with_a_reason(text: str) -> None:
    from bot.services import validators as v

    with pytest.raises(v.Invalid):
        v.course_year(text)


@given(text=STUDENT_TEXT)
@settings(max_examples=250, deadline=None)
def test_the_wizards_validators_accept_or_refuse_with_a_reason_never_crash(text: str) -> None:
    from datetime import date

    from bot.services import validators as v

    today = date(2026, 11, 28)
    checks = [
        lambda: v.full_name(text),
        lambda: v.student_identifier(text),
        lambda: v.course_year(text),
        lambda: v.course_year(text, "master"),
        lambda: v.parse_date(text),
        lambda: v.start_date(text, today),
        lambda: v.end_date(text, today),
        lambda: v.phone(text),
    ]
    for check in checks:
        try:
            check()
        except v.Invalid as exc:
            assert exc.code  # a stable code the handler maps to a message
