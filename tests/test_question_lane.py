"""The question lane (bot.middlewares.lane): a plain question skips the routers that cannot take
it, and every other message is routed exactly as aiogram routes it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.methods import SendMessage
from aiogram.types import Message, Update

from bot.aiogram_compat import inline_sync_filters
from bot.i18n import use_locale
from bot.local_session import LocalSession
from bot.menu import MENU_ITEMS
from bot.middlewares.lane import QuestionLane, build_plan
from tests.harness import STAFF, STAFF_CHAT_ID, STUDENT, STUDENT_EN, STUDENT_RU, Harness

TOKEN = "42:TEST-token-for-the-lane-tests-0000000"


class Form(StatesGroup):
    name = State()


def toy_dispatcher(
    *, outer_middleware_before_target: bool = False
) -> tuple[Dispatcher, list[str]]:
    """Routers shaped like the bot's: commands and states first, a menu button, a staff-chat
    router, a nested router, the flagged question handler, a fallback."""
    ran: list[str] = []

    def record(name: str) -> Any:
        async def handler(message: Message) -> None:
            ran.append(name)

        handler.__name__ = name
        return handler

    commands = Router(name="commands")
    commands.message.register(record("start"), CommandStart())
    commands.message.register(record("help"), Command("help", prefix="/!"))
    commands.message.register(record("form_name"), StateFilter(Form.name), F.text)
    commands.message.register(record("form_any"), Form.name)
    commands.message.register(record("menu"), F.text == "Menu")
    staff = Router(name="staff")
    staff.message.filter(F.chat.id == -100)
    staff.message.register(record("staff_text"), F.text)
    outer = Router(name="outer")
    inner = Router(name="inner")
    inner.message.register(record("greeting"), StateFilter(None), F.text.lower() == "hi there")
    outer.include_router(inner)
    if outer_middleware_before_target:

        class Noop(BaseMiddleware):
            async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
                return await handler(event, data)

        commands.message.outer_middleware(Noop())  # before the target, all its handlers skipped
    questions = Router(name="questions")
    questions.message.filter(F.chat.type == "private")
    questions.message.register(
        record("question"),
        StateFilter(None),
        F.text,
        ~F.text.startswith("/"),
        F.text.len() < 50,
        flags={"question_lane": True},
    )
    fallback = Router(name="fallback")
    fallback.message.register(record("fallback"))
    dp = Dispatcher()
    lane = QuestionLane()
    dp.message.outer_middleware(lane)
    dp["question_lane"] = lane
    dp.include_routers(commands, staff, outer, questions, fallback)
    inline_sync_filters(dp)
    return dp, ran


def update(text: str, *, update_id: int, chat_id: int = 7, chat_type: str = "private") -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": chat_id, "type": chat_type},
                "from": {"id": 7, "is_bot": False, "first_name": "S"},
                "text": text,
            },
        }
    )


CASES: list[tuple[str, str | None, int, str, str]] = [
    # text, state, chat id, chat type, the handler aiogram runs
    ("When is the exam?", None, 7, "private", "question"),
    ("Menu", None, 7, "private", "menu"),
    ("hi there", None, 7, "private", "greeting"),
    ("HI THERE", None, 7, "private", "greeting"),
    ("/start", None, 7, "private", "start"),
    ("   /start", None, 7, "private", "start"),  # aiogram splits off leading spaces
    ("!help", None, 7, "private", "help"),  # a second command prefix
    ("/unknown", None, 7, "private", "fallback"),
    ("Aigerim", Form.name.state, 7, "private", "form_name"),
    ("When is the exam?", Form.name.state, 7, "private", "form_name"),
    ("staff note", None, -100, "supergroup", "staff_text"),
    ("When is the exam?", None, -200, "group", "fallback"),  # questions: private chats only
    ("x" * 60, None, 7, "private", "fallback"),  # the target's own filter says no
]


@pytest.mark.parametrize(("text", "state", "chat_id", "chat_type", "expected"), CASES)
async def test_each_message_reaches_the_handler_aiogram_would_run(
    text: str, state: str | None, chat_id: int, chat_type: str, expected: str
) -> None:
    results = []
    for with_lane in (True, False):
        dp, ran = toy_dispatcher()
        lane: QuestionLane = dp["question_lane"]
        if not with_lane:
            lane.disable()
        bot = Bot(TOKEN, session=LocalSession())
        if state is not None:
            await dp.fsm.get_context(bot, chat_id=chat_id, user_id=7).set_state(state)
        await dp.feed_update(bot, update(text, update_id=1, chat_id=chat_id, chat_type=chat_type))
        await bot.session.close()
        results.append(ran)
        if with_lane:
            took = lane.taken == 1
            assert took == (expected == "question"), (text, lane.taken, lane.declined)
    assert results[0] == results[1] == [expected]


def test_the_plan_skips_only_what_cannot_match() -> None:
    dp, _ = toy_dispatcher()
    plan = build_plan(dp)
    assert plan is not None
    assert plan.prefixes == {"/", "!"}
    assert plan.labels == {"Menu"}
    assert plan.pruned == 5  # start, help, the two form handlers, the menu button
    assert plan.kept == 2  # staff_text, greeting


def test_an_outer_middleware_before_the_target_turns_the_lane_off() -> None:
    dp, _ = toy_dispatcher(outer_middleware_before_target=True)
    assert build_plan(dp) is None


def test_no_flagged_handler_no_lane() -> None:
    dp = Dispatcher()
    router = Router()
    router.message.register(lambda message: None, F.text)
    dp.include_router(router)
    assert build_plan(dp) is None


# --- the bot's own routers ---------------------------------------------------------------------


@pytest.fixture
async def two_bots(
    tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[tuple[Harness, Harness]]:
    """The assistant twice, on two databases: with the lane, and with the lane turned off."""
    made = []
    for name in ("lane", "plain"):
        path = tmp_path / f"{name}.db"
        shutil.copy(sqlite_template, path)
        made.append(await Harness.create(f"sqlite+aiosqlite:///{path}"))
    made[1].dp["question_lane"].disable()
    try:
        yield made[0], made[1]
    finally:
        for h in made:
            await h.close()


async def story(h: Harness) -> list[tuple[int | str, str]]:
    """Menu buttons in three languages, language choice, who-are-you, questions, an open
    helpdesk request and a staff reply: every kind of text before the questions router."""
    for user in (STUDENT, STUDENT_RU, STUDENT_EN):
        await h.send("/start", user=user)
        for item in MENU_ITEMS:
            with use_locale(h.ctx.i18n, user.language_code):
                label = str(item)
            await h.send(label, user=user)
            await h.send("/cancel", user=user)
        await h.send("Who are you?", user=user)
        await h.send("Кто ты?", user=user)
        await h.send("Сен кімсің?", user=user)
        await h.send("Can I study law online?", user=user)
        await h.send("Қашықтан оқуға қалай өтініш беремін?", user=user)
        await h.send("  /help", user=user)
    await h.send("/human", user=STUDENT)
    await h.send("I cannot log in to the portal", user=STUDENT)
    await h.send("It says my password is wrong", user=STUDENT)
    await h.send("staff chatter", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    await h.send("/close", user=STUDENT)
    await h.send("How many credits can be studied remotely?", user=STUDENT)
    return [
        (getattr(call, "chat_id", ""), getattr(call, "text", type(call).__name__))
        for call in h.session.requests
    ]


async def test_the_bot_answers_every_message_the_same_with_and_without_the_lane(
    two_bots: tuple[Harness, Harness],
) -> None:
    with_lane, without = two_bots
    seen = await story(with_lane)
    assert seen == await story(without)
    lane: QuestionLane = with_lane.dp["question_lane"]
    plan = lane.plan
    assert plan is not None and plan.pruned > 60  # most need a command, a state or a button
    assert len(plan.labels) == 18  # six menu buttons in kk, ru, en
    assert lane.taken >= 6  # the two questions of each student
    assert lane.declined >= 9  # "who are you?" went the usual way (buttons never enter the lane)
    assert without.dp["question_lane"].taken == 0


async def test_a_plain_question_is_answered_through_the_lane(harness: Harness) -> None:
    await harness.send("Who has the right to amend the regulation?", user=STUDENT_EN)
    assert "Regulation No. 066, clause 7" in harness.last_text(STUDENT_EN.id)
    assert harness.dp["question_lane"].taken == 1
    before = len(harness.session.requests)
    with use_locale(harness.ctx.i18n, "en"):
        label = str(MENU_ITEMS[2])
    await harness.send(label, user=STUDENT_EN)  # 📚 Regulation: the rules menu
    assert harness.dp["question_lane"].taken == 1
    assert any(isinstance(c, SendMessage) for c in harness.session.requests[before:])


async def test_what_filters_hand_on_reaches_the_handler_as_with_aiogram() -> None:
    """Filters that return data (as the open-ticket filter does), take the data aiogram gives
    them (``handler``, the dispatcher's) or take it all: the lane calls them as aiogram does,
    and the question handler gets the same data."""
    seen: list[tuple[str, Any]] = []

    async def has_ticket(message: Message, tickets: dict[int, str]) -> dict[str, Any] | bool:
        ticket = tickets.get(message.chat.id)
        return {"ticket": ticket} if ticket else False

    def sees_its_handler(message: Message, handler: Any) -> bool:
        seen.append(("filter saw", handler.callback.__name__))
        return True

    def counts_words(message: Message, **data: Any) -> dict[str, Any]:
        return {"words": len((message.text or "").split()), "has_router": "event_router" in data}

    async def relay(message: Message, ticket: str) -> None:
        seen.append(("relay", ticket))

    async def question(message: Message, words: int, has_router: bool, lang: str) -> None:
        seen.append(("question", (words, has_router, lang)))

    def build() -> Dispatcher:
        helpdesk = Router(name="helpdesk")
        helpdesk.message.register(relay, has_ticket, F.text)
        questions = Router(name="questions")
        questions.message.filter(F.chat.type == "private", lambda message: {"lang": "en"})
        questions.message.register(
            question, sees_its_handler, counts_words, flags={"question_lane": True}
        )
        dp = Dispatcher(tickets={8: "#5"})
        lane = QuestionLane()
        dp.message.outer_middleware(lane)
        dp["question_lane"] = lane
        dp.include_routers(helpdesk, questions)
        inline_sync_filters(dp)
        return dp

    results = []
    for with_lane in (True, False):
        dp = build()
        if not with_lane:
            dp["question_lane"].disable()
        bot = Bot(TOKEN, session=LocalSession())
        await dp.feed_update(bot, update("When is the exam?", update_id=1, chat_id=7))
        await dp.feed_update(bot, update("my ticket", update_id=2, chat_id=8))
        await bot.session.close()
        results.append(list(seen))
        seen.clear()
        if with_lane:
            assert dp["question_lane"].taken == 1
    assert (
        results[0]
        == results[1]
        == [
            ("filter saw", "question"),
            ("question", (4, True, "en")),
            ("relay", "#5"),
        ]
    )


async def test_a_filter_aiogram_runs_in_a_thread_is_still_run_there() -> None:
    """Without inline_sync_filters a synchronous filter runs in a worker thread (aiogram's
    way); the lane keeps that, and the question is still answered through it."""
    import threading

    threads: list[bool] = []

    def off_the_loop(message: Message) -> bool:
        threads.append(threading.current_thread() is threading.main_thread())
        return True

    async def question(message: Message) -> None:
        threads.append(True)

    questions = Router(name="questions")
    questions.message.register(question, off_the_loop, flags={"question_lane": True})
    dp = Dispatcher()
    lane = QuestionLane()
    dp.message.outer_middleware(lane)
    dp.include_routers(questions)  # no inline_sync_filters
    bot = Bot(TOKEN, session=LocalSession())
    await dp.feed_update(bot, update("When is the exam?", update_id=1))
    await bot.session.close()
    assert lane.taken == 1
    assert threads == [False, True]  # the filter off the main thread, then the handler
