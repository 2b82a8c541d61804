"""Shared by the issue-12 tests: a clause ranking that never covers a question (so the FAQ path
does not depend on the search's tuning), staff-chat clicks, and a daytime clock."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from bot.config import Settings
from bot.factory import create_app_context
from bot.services.answers import AnswerService, Knowledge, load_knowledge
from knowledge.qmatch import MatchResult
from knowledge.ranking import FEATURES, Calibration, Ranked
from knowledge.search import Hit, SearchResult
from tests.harness import STAFF_CHAT_ID, Harness, TgUser
from tests.test_reminders_support import set_role


class NotCoveredRanker:
    """Every question is outside the regulation: a weak ranking, and (with
    ``NOT_COVERED_CALIBRATION``) "not covered"."""

    def rank(
        self, question: str, lang: str | None, k: int = 8, *, matcher: object = None
    ) -> Ranked:
        hits = [Hit("1.1", 0.5), Hit("1.2", 0.4)]
        search = SearchResult(
            hits=hits,
            confidence=0.05,
            detected_lang=lang or "en",
            strength=0.0,
            coverage=0.0,
            vocabulary=0.0,
        )
        features = dict.fromkeys(FEATURES, 0.0)
        features["nc_lead"] = 1.0  # nearer a not-covered question: no question-type template
        return Ranked(
            clauses=("1.1", "1.2"),
            scores=(0.1, 0.08),
            features=features,
            search=search,
            matches=MatchResult({}),
        )


# P(right) = 0.05 and P(in scope) ≈ 0.05 for every question: "not covered"
NOT_COVERED_CALIBRATION = Calibration(
    right={"intercept": math.log(0.05 / 0.95)},
    in_scope={"intercept": -3.0},
    confident=0.8,
    covered=0.5,
)


async def not_covered_harness(
    database_url: str, *, redis_url: str | None = None, **settings: Any
) -> Harness:
    """A harness whose clause search covers nothing; the FAQ and offices are the real ones."""
    real = load_knowledge()
    cfg = Settings(  # type: ignore[call-arg]
        database_url=database_url,
        _env_file=None,
        redis_url=redis_url,
        admin_ids=[9001],
        staff_chat_id=STAFF_CHAT_ID,
        flood_limit=0,
        **settings,
    )
    ctx = await create_app_context(cfg)
    answers = AnswerService(
        Knowledge(
            real.regulation,
            real.catalog,
            real.index,
            NotCoveredRanker(),  # type: ignore[arg-type]
            NOT_COVERED_CALIBRATION,
            real.documents,
            real.cache_dir,
        )
    )
    ctx.services = dataclasses.replace(ctx.services, answers=answers)
    ctx.services.faq.answers = answers
    return await Harness.create(database_url, ctx=ctx)


async def harness_pair(database_url: str) -> AsyncIterator[Harness]:
    h = await not_covered_harness(database_url)
    try:
        yield h
    finally:
        await h.close()


def daytime(harness: Harness, hour: int = 11) -> datetime:
    """Pin the follow-up and delivery clocks to ``hour``:00 local today (outside quiet hours)."""
    tz = harness.ctx.settings.tz
    moment = datetime.combine(date.today(), time(hour, 0), tzinfo=tz).astimezone(UTC)
    harness.ctx.services.unanswered.now = lambda: moment
    harness.ctx.services.broadcasts.now = lambda: moment
    return moment


def button_data(harness: Harness, label: str, chat_id: int) -> str:
    """The callback data of the button containing ``label`` in the newest keyboard that has
    one, sent to ``chat_id``."""
    for method in reversed(harness.session.requests):
        markup = getattr(method, "reply_markup", None)
        if getattr(method, "chat_id", None) != chat_id or not isinstance(
            markup, InlineKeyboardMarkup
        ):
            continue
        for row in markup.inline_keyboard:
            for button in row:
                if label in button.text and button.callback_data:
                    return button.callback_data
    raise AssertionError(f"no button {label!r} sent to {chat_id}")


async def staff_click(harness: Harness, label: str, user: TgUser) -> list[Any]:
    data = button_data(harness, label, STAFF_CHAT_ID)
    return await harness.click(data, user, chat_id=STAFF_CHAT_ID, chat_type="supergroup")


async def staff_send(harness: Harness, text: str, user: TgUser) -> list[Any]:
    return await harness.send(text, user=user, chat_id=STAFF_CHAT_ID, chat_type="supergroup")


async def make_staff(harness: Harness, user: TgUser) -> None:
    await harness.send("/help", user=user)  # creates the user row
    await set_role(harness, user.id, "staff")


def staff_texts(harness: Harness) -> list[str]:
    return harness.texts(STAFF_CHAT_ID)
