"""Users' stories found by playing the assistant as its users would, each a bug once seen.

Each test tells what a user did and asserts what they saw.
"""

from __future__ import annotations

import io

from bot.config import Settings
from bot.localchat import run_chat
from tests.harness import STAFF, STAFF_CHAT_ID, STUDENT_EN, STUDENT_RU, Harness, TgUser


async def _chat(database_url: str, lines: list[str], *, lang: str = "en") -> str:
    settings = Settings(  # type: ignore[call-arg]
        database_url=database_url, _env_file=None, redis_url=None
    )
    out = io.StringIO()
    stdin = io.StringIO("".join(f"{line}\n" for line in lines))
    await run_chat(settings, lang=lang, stdin=stdin, stdout=out)
    return out.getvalue()


async def test_local_chat_run_again_on_the_same_database_still_answers(sqlite_url: str) -> None:
    """A tester pipes /start, then runs the chat again on the same file to keep their state:
    the second run must answer too, not drop its first lines as already-handled updates."""
    first = await _chat(sqlite_url, ["/start"])
    assert "Choose your language" in first
    second = await _chat(sqlite_url, ["/myapplications"])
    assert "You have no applications yet" in second


async def test_piped_local_chat_is_not_told_to_slow_down(sqlite_url: str) -> None:
    """Lines piped into the local chat arrive at once; each still gets its answer."""
    lines = ["/help"] * 12 + ["/myapplications"]
    out = await _chat(sqlite_url, lines)
    assert "sending messages very fast" not in out
    assert "You have no applications yet" in out


async def _dl_to_name_step(h: Harness, user: TgUser) -> None:
    await h.send("/start", user=user)
    await h.send("/apply", user=user)
    await h.click("ap:kind:dl", user)
    await h.click("ap:ground:health", user)
    await h.click("ap:role:student", user)


async def test_menu_buttons_mid_application_are_not_taken_for_a_name(harness: Harness) -> None:
    """An applicant on the 'full name' step taps the menu below the chat: 📚 Regulation opens
    the regulation, ❓ Ask a question and 📝 Apply bring them back to the application; none is
    refused as a name with strange characters, and the wizard still takes the real name."""
    h, user = harness, STUDENT_EN
    await _dl_to_name_step(h, user)
    assert "full name" in h.last_text(user.id)

    await h.send("📚 Regulation", user=user)
    assert "Regulation No. 066" in h.last_text(user.id)
    await h.send("❓ Ask a question", user=user)
    assert "Please answer the question above" in "\n".join(h.texts(user.id)[-2:])
    await h.send("📝 Apply", user=user)
    assert "unfinished application" in "\n".join(h.texts(user.id)[-2:])
    assert not any("may contain only" in t for t in h.texts(user.id))

    await h.send("John Smith", user=user)
    assert "student ID or the IIN" in h.last_text(user.id)


async def test_menu_buttons_mid_application_work_in_russian(harness: Harness) -> None:
    h, user = harness, STUDENT_RU
    await _dl_to_name_step(h, user)
    await h.send("📚 Положение", user=user)
    assert "Положение № 066" in h.last_text(user.id)
    assert not any("может содержать только" in t for t in h.texts(user.id))


async def test_menu_button_while_writing_to_the_helpdesk_is_not_sent_as_the_question(
    harness: Harness,
) -> None:
    """A student asks for a person, picks a topic, then taps 📚 Regulation instead of typing:
    no ticket is opened with "📚 Regulation" as its question; they are asked again, and their
    real question opens the ticket. After rating, a menu tap is not taken as the comment."""
    from tests.test_helpdesk import WEDNESDAY_11, at, make_staff, tickets

    h, user = harness, STUDENT_RU
    at(h, WEDNESDAY_11)
    await make_staff(h)
    await h.send("/start", user=user)
    await h.send("🙋 Спросить человека", user=user)
    await h.click_button("Техническ", user=user)
    await h.send("📚 Положение", user=user)
    assert await tickets(h) == []
    assert "одним сообщением" in h.last_text(user.id)

    await h.send("Не могу войти в Platonus", user=user)
    [ticket] = await tickets(h)
    assert ticket.status == "open"

    await h.send(
        "/close", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup", thread_id=100
    )
    await h.click_button("5", user=user)
    await h.send("📚 Положение", user=user)
    assert "Положение № 066" in h.last_text(user.id)
    [ticket] = await tickets(h)
    assert ticket.rating == 5 and ticket.rating_comment is None


async def test_greetings_and_thanks_get_a_friendly_reply_not_a_clause(harness: Harness) -> None:
    """A student says "привет", then "спасибо большое" after an answer: the bot greets back and
    says "you're welcome" — no "the regulation does not cover this", no random clause, and no
    nudge towards a person as if the bot had failed twice."""
    h, user = harness, STUDENT_RU
    await h.send("/start", user=user)
    for text in ("привет", "спасибо", "Спасибо большое!", "рахмет", "thanks"):
        await h.send(text, user=user)
        reply = h.last_text(user.id)
        assert "не касается" not in reply and "п. " not in reply, (text, reply)
        assert "Спросить человека" not in h.buttons(user.id), text
        assert reply.startswith("Здравствуйте!" if text == "привет" else "Пожалуйста!"), reply
    await h.send("Hello!", user=STUDENT_EN)
    assert h.last_text(STUDENT_EN.id).startswith("Hello!")
    await h.send("Сәлеметсіз бе", user=STUDENT_EN)
    assert h.last_text(STUDENT_EN.id).startswith("Hello!")


async def test_start_in_the_middle_of_an_application_says_it_was_dropped(
    harness: Harness,
) -> None:
    """A student halfway through /apply sends /start: the bot greets them and says plainly that
    the unfinished application was not kept, so they are not left wondering where it went."""
    h, user = harness, STUDENT_EN
    await _dl_to_name_step(h, user)
    await h.send("John Smith", user=user)
    await h.send("/start", user=user)
    said = "\n".join(h.texts(user.id)[-2:])
    assert "Hello, John" in said
    assert "unfinished application was not kept" in said
    await h.send("/apply", user=user)
    assert "unfinished" not in h.last_text(user.id)

    await h.send("/start", user=user)  # nothing filled in yet: just the greeting
    assert "not kept" not in h.last_text(user.id)


async def test_staff_member_finds_their_commands_in_help(harness: Harness) -> None:
    """A helpdesk staff member opens /help in a private chat with the bot: besides what students
    see, they learn the commands of their role; a student does not see them."""
    from tests.test_helpdesk import make_staff

    h = harness
    await make_staff(h)
    await h.send("/help", user=STAFF)
    text = h.last_text(STAFF.id)
    for command in ("/tickets", "/take", "/close", "/calendar", "/broadcast"):
        assert command in text, command
    assert "Для сотрудников" in text

    await h.send("/help", user=STUDENT_RU)
    assert "/tickets" not in h.last_text(STUDENT_RU.id)


async def test_menu_buttons_while_a_helpdesk_request_is_open(harness: Harness) -> None:
    """While a person is on their request, a student taps ❓ Ask a question: they are told the
    request is open, to write here, and how to leave it. 📚 Regulation still opens the
    regulation. Neither tap reaches the staff chat as a message."""
    from aiogram.methods import CopyMessage

    from tests.test_helpdesk import WEDNESDAY_11, at, make_staff

    h, user = harness, STUDENT_RU
    at(h, WEDNESDAY_11)
    await make_staff(h)
    await h.send("/start", user=user)
    await h.send("/human", user=user)
    await h.click_button("Техническ", user=user)
    await h.send("Не могу войти в Platonus", user=user)
    calls = await h.send("❓ Задать вопрос", user=user)
    assert not [c for c in calls if isinstance(c, CopyMessage)]
    assert "уже открыто" in h.last_text(user.id) and "/cancel" in h.last_text(user.id)
    calls = await h.send("📚 Положение", user=user)
    assert not [c for c in calls if isinstance(c, CopyMessage)]
    assert "Положение № 066" in h.last_text(user.id)


async def test_switching_language_mid_application_repeats_the_question_in_the_new_language(
    harness: Harness,
) -> None:
    """An English-speaking parent halfway through /apply switches to Russian: the question they
    are on is asked again in Russian, and the application goes on where it was."""
    h, user = harness, STUDENT_EN
    await _dl_to_name_step(h, user)
    await h.send("/language", user=user)
    await h.click_button("Русский", user=user)
    assert "ФИО обучающегося" in h.last_text(user.id)
    await h.send("Иванов Иван", user=user)
    assert "ИИН" in h.last_text(user.id)


async def test_online_applicant_naming_a_banned_direction_is_told_at_once(
    harness: Harness,
) -> None:
    """An applicant for the online form types «ветеринария»: every programme of that name is in
    Appendix 1, so the bot says at once that the online form is not possible (6.2) instead of
    asking for the exact code first."""
    h, user = harness, STUDENT_RU
    await h.send("/apply", user=user)
    await h.click("ap:kind:online", user)
    await h.send("ветеринария", user=user)
    said = h.last_text(user.id)
    assert "форма онлайн-обучения невозможна" in said and "6.2" in said
    assert "точный код" not in said


async def test_english_applicant_sees_english_abbreviations_on_the_form_buttons(
    harness: Harness,
) -> None:
    """An English-speaking applicant opens /apply: the two forms are labelled in English, with
    the same DL / OL letters as their reference numbers, not the Kazakh ҚО / ООН."""
    h, user = harness, STUDENT_EN
    await h.send("/apply", user=user)
    assert h.buttons(user.id) == ["Distance learning (DL)", "Online form (OL)"]
