"""One-off notices (bot.notifications.notify): the recipient's language; refusals are answers."""

from __future__ import annotations

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.utils.i18n import gettext as _

from bot.db.models import User
from bot.i18n import use_locale
from bot.notifications.notify import Outcome
from tests.harness import Harness

CLOSED = "The Helpdesk has closed this conversation."


def closed_in(h: Harness, lang: str) -> str:
    with use_locale(h.ctx.i18n, lang):
        return _(CLOSED)


def sent_texts(h: Harness) -> list[tuple[int | str, str]]:
    return [(m.chat_id, m.text) for m in h.session.of(SendMessage)]


async def test_a_notice_is_written_in_the_recipients_language(harness: Harness) -> None:
    notifier = harness.ctx.services.notifier
    assert closed_in(harness, "ru") != closed_in(harness, "en")
    russian = User(id=501, first_name="Ivan", language="ru")
    unset = User(id=502, first_name="Dana", language=None)
    for user, known in ((russian, "en"), (unset, "en"), (503, "kk"), (504, None)):
        outcome = await notifier.notify(harness.bot, user, lambda: _(CLOSED), language=known)
        assert outcome is Outcome.SENT and outcome.delivered
    default = harness.ctx.settings.default_language
    assert sent_texts(harness) == [
        (501, closed_in(harness, "ru")),  # the stored choice wins over what the caller knows
        (502, closed_in(harness, "en")),
        (503, closed_in(harness, "kk")),
        (504, closed_in(harness, default)),
    ]


ASKED = SendMessage(chat_id=9, text="hello")


@pytest.mark.parametrize(
    ("refusal", "outcome"),
    [
        (TelegramForbiddenError(ASKED, "Forbidden: bot was blocked by the user"), Outcome.BLOCKED),
        (TelegramBadRequest(ASKED, "Bad Request: chat not found"), Outcome.NOT_FOUND),
        (TelegramBadRequest(ASKED, "Bad Request: message is too long"), Outcome.FAILED),
        (TelegramServerError(ASKED, "Bad Gateway"), Outcome.FAILED),
    ],
)
async def test_telegrams_refusals_are_outcomes_not_crashes(
    harness: Harness, refusal: Exception, outcome: Outcome
) -> None:
    notifier = harness.ctx.services.notifier
    assert notifier.metrics is not None
    name = "studentbot_notifications_total"
    before = notifier.metrics.value(name, outcome=outcome.value)
    harness.session.fail_next("sendMessage", refusal)
    assert await notifier.notify(harness.bot, 9, "hello", language="en") is outcome
    assert notifier.metrics.value(name, outcome=outcome.value) == before + 1


async def test_a_flood_wait_is_not_retried_here(harness: Harness) -> None:
    notifier = harness.ctx.services.notifier
    harness.session.fail_next(
        "sendMessage",
        TelegramRetryAfter(ASKED, "Too Many Requests", retry_after=30),
    )
    assert await notifier.notify(harness.bot, 9, "hello", language="en") is Outcome.FLOOD
    assert sent_texts(harness) == [(9, "hello")]  # the refused attempt only
