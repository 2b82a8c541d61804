"""The first minutes with the assistant: /start, language choice, help, cancel, odd input."""

from __future__ import annotations

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import ReplyKeyboardMarkup
from sqlalchemy import select

from bot.db.models import User
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser


async def stored_user(h: Harness, user_id: int) -> User | None:
    async with h.ctx.sessionmaker() as session:
        return await session.scalar(select(User).where(User.id == user_id))


async def test_first_start_greets_in_telegram_language_and_offers_languages(
    harness: Harness,
) -> None:
    await harness.send("/start", user=STUDENT_RU)
    text = harness.last_text()
    assert "Здравствуйте, Ivan" in text
    assert "Выберите язык" in text
    assert harness.buttons() == ["Қазақша", "Русский", "English"]
    row = await stored_user(harness, STUDENT_RU.id)
    assert row is not None and row.first_name == "Ivan" and row.role == "student"
    assert row.language is None and row.telegram_language == "ru"


async def test_choosing_a_language_stores_it_and_switches_at_once(harness: Harness) -> None:
    await harness.send("/start", user=STUDENT_RU)
    calls = await harness.click_button("English", user=STUDENT_RU)
    assert any(isinstance(c, AnswerCallbackQuery) for c in calls)
    edited = [c for c in calls if isinstance(c, EditMessageText)]
    assert edited and edited[0].text == "Language: English"
    sent = [c for c in calls if isinstance(c, SendMessage)]
    assert "Regulation No. 066" in sent[-1].text
    assert isinstance(sent[-1].reply_markup, ReplyKeyboardMarkup)
    row = await stored_user(harness, STUDENT_RU.id)
    assert row is not None and row.language == "en"
    # The stored choice wins over Telegram's language_code from now on.
    await harness.send("/help", user=STUDENT_RU)
    assert harness.last_text().startswith("I answer questions")


async def test_language_command_changes_language(harness: Harness) -> None:
    await harness.send("/start", user=STUDENT)
    await harness.click_button("Қазақша")
    await harness.send("/language")
    assert harness.last_text() == "Тілді таңдаңыз:"
    await harness.click_button("Русский")
    assert harness.texts()[-2] == "Язык: русский"
    await harness.send("/cancel")
    assert harness.last_text() == "Отменять нечего."


async def test_returning_user_gets_menu_not_language_prompt(harness: Harness) -> None:
    await harness.send("/start", user=STUDENT_EN)
    await harness.click_button("English", user=STUDENT_EN)
    await harness.send("/start", user=STUDENT_EN)
    assert harness.last_text().startswith("Hello, John! Ask me")
    assert "🌐 Language" in harness.buttons()


async def test_unknown_language_code_falls_back(harness: Harness) -> None:
    uzbek = TgUser(id=1500, first_name="Aziz", language_code="uz")
    german = TgUser(id=1501, first_name="Hans", language_code="de")
    await harness.send("/help", user=uzbek)
    assert harness.last_text().startswith("Я отвечаю")
    await harness.send("/help", user=german)
    assert harness.last_text().startswith("I answer questions")


async def test_unknown_command_and_non_text_get_short_localized_answers(harness: Harness) -> None:
    await harness.send("/frobnicate", user=STUDENT_EN)
    assert "don't know this command" in harness.last_text()
    await harness.send_content(
        STUDENT_EN,
        sticker={
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        },
    )
    assert "only read text" in harness.last_text()
    await harness.send_content(
        STUDENT, voice={"file_id": "v", "file_unique_id": "v", "duration": 3}
    )
    assert "мәтіндік" in harness.last_text()
    await harness.edit("fixed typo", user=STUDENT_RU)
    assert "только новые сообщения" in harness.last_text()


async def test_very_long_message_is_answered_not_crashed(harness: Harness) -> None:
    await harness.send("а" * 4096, user=STUDENT_RU)
    assert harness.last_text()


async def test_stale_button_is_answered(harness: Harness) -> None:
    calls = await harness.click("no-such-prefix:1", user=STUDENT_EN)
    answers = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert answers and answers[0].text == "This button is no longer active."


async def test_error_handler_tells_user_without_internals(harness: Harness) -> None:
    from aiogram import Router

    boom = Router(name="boom")

    @boom.message(lambda m: m.text == "explode")
    async def explode(message: object) -> None:
        raise RuntimeError("secret internal detail")

    harness.dp.sub_routers.insert(1, boom)
    boom._parent_router = harness.dp
    await harness.send("explode", user=STUDENT_EN)
    text = harness.last_text()
    assert "Something went wrong" in text and "secret" not in text


async def test_invite_link_start_joins_the_curators_group(harness: Harness) -> None:
    from tests.test_reminders_support import make_group

    curator = TgUser(id=3100, first_name="Curator", language_code="en")
    await harness.send("/start", user=curator)
    await make_group(harness, curator.id, "IT-21", "ABCD2345")
    await harness.send("/start join_ABCD2345", user=STUDENT_EN)
    assert "You joined the group «IT-21»" in harness.last_text(STUDENT_EN.id)
    # A plain /start is still the greeting.
    await harness.send("/start", user=STUDENT_EN)
    assert "Choose your language" in harness.last_text(STUDENT_EN.id)
