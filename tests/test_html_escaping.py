"""A user called ``</b><i>Evil & <Co>`` goes everywhere a name or a typed text can go back out.

Every text the bot sends is HTML (``parse_mode`` HTML by default): a name or text put into it
unescaped makes Telegram answer 400 "can't parse entities", and the message is never
delivered (issue 17: /start was never answered for such a name). Each path below is walked
with the hostile value, and every text sent in the whole test must be HTML Telegram accepts:
only its tags, balanced, only its entities, no bare ``<``, ``>`` or ``&`` — with the hostile
value shown escaped wherever it appears.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any

from aiogram.client.default import Default
from aiogram.methods import (
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from sqlalchemy import select

from bot.db.models.groups import CuratorGroup
from bot.services.calendar import EventSpec
from bot.services.reminders import ReminderService
from tests.harness import STAFF, STAFF_CHAT_ID, Harness, TgUser
from tests.test_helpdesk import at, make_staff, open_ticket, staff_says, tickets
from tests.test_reminders_support import DAY, set_role

EVIL = "</b><i>Evil & <Co>"
ESCAPED = html.escape(EVIL, quote=False)
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
TELEGRAM_ENTITIES = {"lt", "gt", "amp", "quot"}
VOID: set[str] = set()

EVIL_STUDENT = TgUser(id=7001, first_name=EVIL, last_name=EVIL, language_code="en")
EVIL_CURATOR = TgUser(id=7002, first_name=EVIL, last_name=None, language_code="ru")
EVIL_STAFF = TgUser(id=7003, first_name=EVIL, last_name=EVIL, language_code="en")


class TelegramHTML(HTMLParser):
    """Telegram's HTML subset: collects every problem instead of guessing what Telegram does."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}> is not Telegram's")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in TELEGRAM_ENTITIES:
            self.problems.append(f"entity &{name};")

    def handle_data(self, data: str) -> None:
        for char in "<>":
            if char in data:
                self.problems.append(f"bare {char!r} in {data[:40]!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data[:40]!r}")


def html_problems(text: str) -> list[str]:
    # A bare "&" (not starting an entity) is an error for Telegram, not for HTMLParser.
    problems = []
    index = text.find("&")
    while index != -1:
        tail = text[index + 1 : index + 12]
        if not (tail.split(";")[0].isalnum() or tail.startswith("#")) or ";" not in tail:
            problems.append(f"bare '&' in {text[max(index - 20, 0) : index + 20]!r}")
        index = text.find("&", index + 1)
    parser = TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        problems.append(f"unclosed {parser.stack}")
    return problems + parser.problems


def html_texts(calls: list[TelegramMethod[Any]]) -> list[str]:
    out = []
    for call in calls:
        mode = getattr(call, "parse_mode", None)
        if not isinstance(mode, Default) and mode != "HTML":
            continue  # plain text (parse_mode None): nothing to escape
        if isinstance(call, SendMessage | EditMessageText):
            out.append(call.text)
        elif isinstance(call, SendDocument | SendPhoto) and call.caption:
            out.append(call.caption)
    return out


def assert_valid_html(h: Harness) -> list[str]:
    texts = html_texts(h.session.requests)
    bad = {text[:160]: problems for text in texts if (problems := html_problems(text))}
    assert bad == {}, bad
    return texts


def test_the_checker_refuses_what_telegram_refuses() -> None:
    assert html_problems(f"Hello, {EVIL}!") != []
    assert html_problems("a & b") != []
    assert html_problems("<b>x</i>") != []
    assert html_problems(f"Hello, <b>{ESCAPED}</b> &amp; co") == []


async def test_every_text_path_escapes_a_hostile_name_and_text(harness: Harness) -> None:
    h = harness
    at(h, DAY.replace(hour=6))  # a weekday morning in Atyrau: helpdesk within working hours

    # A student named EVIL: greeting, help, profile with typed faculty, questions.
    await h.send("/start", user=EVIL_STUDENT)
    greeting = h.texts(EVIL_STUDENT.id)[-1]
    await h.send("/help", user=EVIL_STUDENT)
    await h.send("/profile", user=EVIL_STUDENT)
    await h.click_button("Faculty", user=EVIL_STUDENT)
    await h.send(EVIL, user=EVIL_STUDENT)
    await h.send("/profile", user=EVIL_STUDENT)
    await h.click_button("Programme", user=EVIL_STUDENT)
    await h.send(EVIL, user=EVIL_STUDENT)  # no such programme: quoted back
    await h.send("/cancel", user=EVIL_STUDENT)
    await h.send(f"Can I study {EVIL} online?", user=EVIL_STUDENT)
    await h.send(f"{EVIL} dormitory canteen prices?", user=EVIL_STUDENT)
    await h.send(f"/rules {EVIL}", user=EVIL_STUDENT)
    await h.send("/mydata", user=EVIL_STUDENT)

    # The helpdesk: the card in the staff chat, the relay both ways, staff replies, the rating.
    await make_staff(h, EVIL_STAFF.id)
    await open_ticket(h, EVIL_STUDENT, question=f"{EVIL} cannot log in")
    [ticket] = await tickets(h)
    assert ticket.thread_id is not None
    await staff_says(h, f"Dear {EVIL}, try again", ticket.thread_id, user=EVIL_STAFF)
    await h.send(f"Still {EVIL}", user=EVIL_STUDENT)
    await staff_says(h, "/tickets", ticket.thread_id, user=EVIL_STAFF)
    await staff_says(h, "/take", ticket.thread_id, user=EVIL_STAFF)
    await staff_says(h, "/close", ticket.thread_id, user=EVIL_STAFF)
    await h.send("/start", user=EVIL_STUDENT)

    # An application: the name and every typed answer go into the summary and the staff card.
    await h.send("/apply", user=EVIL_STUDENT)
    await h.click("ap:kind:online", EVIL_STUDENT)
    await h.send("6B06102", user=EVIL_STUDENT)
    await h.send(f"{EVIL} {EVIL}", user=EVIL_STUDENT)  # refused with a reason (escaped)
    await h.send("Smith John", user=EVIL_STUDENT)
    await h.click_button("I have no IIN", user=EVIL_STUDENT)
    await h.send("N 1234567", user=EVIL_STUDENT)
    await h.send("+44 7700 900123", user=EVIL_STUDENT)
    for _ in range(3):
        await h.click("ap:accept:", EVIL_STUDENT)
    await h.click_button("Submit", user=EVIL_STUDENT)
    await h.send("/myapplications", user=EVIL_STUDENT)
    await h.send("/cancel", user=EVIL_STUDENT)

    # A curator's group and broadcast, with the hostile name as the group's name and text.
    await h.send("/start", user=EVIL_CURATOR)
    await set_role(h, EVIL_CURATOR.id, "curator")
    await h.send(f"/newgroup {EVIL}", user=EVIL_CURATOR)
    await h.send("/groups", user=EVIL_CURATOR)
    async with h.ctx.sessionmaker() as session:
        code = await session.scalar(select(CuratorGroup.invite_code))
    await h.send(f"/join {code}", user=EVIL_STUDENT)
    await h.send("/broadcast", user=EVIL_CURATOR)
    await h.send(EVIL, user=EVIL_CURATOR)
    await h.click_button("➡️", user=EVIL_CURATOR)
    await h.click_button("🚀", user=EVIL_CURATOR)
    await h.ctx.services.broadcasts.drain(h.bot)

    # Staff: the calendar with hostile titles, a broadcast by staff, the unanswered list.
    reminders: ReminderService = h.ctx.services.reminders
    reminders.now = lambda: DAY
    await h.send("/start", user=STAFF)
    await set_role(h, STAFF.id, "staff")
    async with h.ctx.sessionmaker() as session, session.begin():
        await reminders.add_and_plan(
            session,
            [
                EventSpec(
                    kind="application_deadline",
                    title_kk=EVIL,
                    title_ru=EVIL,
                    title_en=EVIL,
                    starts_on=DAY.date().replace(day=10),
                    ends_on=None,
                )
            ],
        )
    await h.send("/calendar", user=STAFF)
    await reminders.tick(DAY.replace(day=9, hour=6))  # the deadline's reminders to students
    # Reminders wait out quiet hours: deliver them that weekday morning, whatever the wall clock.
    h.ctx.services.broadcasts.now = lambda: DAY.replace(day=9, hour=6)
    await h.ctx.services.broadcasts.drain(h.bot)
    await h.send("/unanswered", user=STAFF)
    await h.send(f"/take {EVIL}", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")

    texts = assert_valid_html(h)
    assert ESCAPED in greeting, greeting
    shown = [t for t in texts if "Evil" in t]
    assert len(shown) >= 10, shown
    assert all(EVIL not in t for t in texts)
