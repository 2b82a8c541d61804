"""Issue 16, item 9: a choice survives a failed message edit.

The edit of the message a button sat under can fail (a Bot API answer the client cannot parse,
"message can't be edited" after 48 hours): the choice is stored first, and the text the edit
would have shown comes as a new message.
"""

from __future__ import annotations

from aiogram.exceptions import ClientDecodeError, TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage

from bot.db.models import User
from bot.db.models.groups import StudentProfile
from tests.harness import STUDENT_RU, Harness


async def test_language_choice_survives_an_unparsable_edit_answer(harness: Harness) -> None:
    """A student sends /language and picks Қазақша; the Bot API's answer to the edit cannot
    be parsed. The language is still Kazakh, and the bot says so in a new message."""
    h, user = harness, STUDENT_RU
    await h.send("/start", user=user)
    await h.click_button("Русский", user=user)
    await h.send("/language", user=user)
    h.session.fail_next(
        "editMessageText", ClientDecodeError("bad JSON", ValueError("x"), data="<html>")
    )
    calls = await h.click_button("Қазақша", user=user)
    async with h.ctx.sessionmaker() as session:
        stored = await session.get(User, user.id)
        assert stored is not None and stored.language == "kk"
    sent = [c.text for c in calls if isinstance(c, SendMessage)]
    assert "Тіл: қазақша" in sent[0]  # the edit's text, as a new message
    assert any(isinstance(c, EditMessageText) for c in calls)
    await h.send("/help", user=user)
    assert "Ереже" in h.last_text(user.id) or "ереже" in h.last_text(user.id)


async def test_profile_choice_survives_an_old_message(harness: Harness) -> None:
    """A student presses «Year 2» under a /profile message too old to edit: the year is kept
    and the updated profile arrives as a new message."""
    h, user = harness, STUDENT_RU
    await h.send("/profile", user=user)
    h.session.fail_next(
        "editMessageText",
        TelegramBadRequest(
            method=EditMessageText(text="x", chat_id=1, message_id=1),
            message="Bad Request: message can't be edited",
        ),
    )
    calls = await h.click_button("2", user=user)
    async with h.ctx.sessionmaker() as session:
        profile = await session.get(StudentProfile, user.id)
        assert profile is not None and profile.course_year == 2
    [sent] = [c for c in calls if isinstance(c, SendMessage)]
    assert "2" in sent.text
