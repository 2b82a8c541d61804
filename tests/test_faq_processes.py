"""Two processes on one database (issue 12): an FAQ entry published in one is answered by the
other at once, an office edited in one shows in the other, and the askers are told once even
when both processes run the follow-up worker."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from aiogram.methods import SendMessage

from tests.faq_support import (
    daytime,
    make_staff,
    not_covered_harness,
    staff_click,
    staff_send,
)
from tests.harness import ADMIN, STAFF, STUDENT_EN, STUDENT_RU, Harness


@pytest.fixture
async def pair(database_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    first = await not_covered_harness(database_url)
    second = await not_covered_harness(database_url)
    # one bot, two processes: Telegram numbers their updates in one sequence
    second._update_ids = itertools.count(100_000)
    second._message_ids = itertools.count(100_000)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def followups(h: Harness, user_id: int) -> list[str]:
    return [
        m.text
        for m in h.session.requests
        if isinstance(m, SendMessage) and m.chat_id == user_id and "ответили сотрудники" in m.text
    ]


async def test_an_entry_published_in_one_process_is_live_in_the_other(
    pair: tuple[Harness, Harness],
) -> None:
    a, b = pair
    assert a.ctx.services.faq is not b.ctx.services.faq
    daytime(a)
    daytime(b)
    await make_staff(a, STAFF)
    # process B answers (and loads the FAQ) before staff answer in process A
    await b.send("где распечатать курсовую в университете?", user=STUDENT_RU)
    assert "Положение № 066 этого не касается" in b.last_text(STUDENT_RU.id)
    await staff_send(a, "/unanswered", STAFF)
    await staff_click(a, "1", STAFF)
    await staff_click(a, "✍️", STAFF)
    await staff_click(a, "Русский", STAFF)
    await staff_send(a, "В читальном зале библиотеки.", STAFF)
    await staff_click(a, "➡️", STAFF)
    await staff_click(a, "Научная библиотека", STAFF)
    await staff_click(a, "✅", STAFF)
    # process B: the very next question is answered from the new entry
    await b.send("где можно распечатать курсовую?", user=STUDENT_EN)
    text = b.last_text(STUDENT_EN.id)
    assert "В читальном зале библиотеки." in text and "FAQ · University Library" in text
    assert "not translated into your language yet; here it is in Russian" in text
    # both processes run the follow-up worker and the delivery: the asker is told once
    for h in (a, b, a):
        await h.ctx.services.unanswered.tick()
    for h in (a, b):
        await h.ctx.services.broadcasts.drain(h.bot)
    assert len(followups(a, STUDENT_RU.id) + followups(b, STUDENT_RU.id)) == 1


async def test_an_office_edited_in_one_process_shows_in_the_other(
    pair: tuple[Harness, Harness],
) -> None:
    a, b = pair
    await b.send("is the volleyball section free", user=STUDENT_EN)
    assert "☎️" not in b.last_text(STUDENT_EN.id)
    await a.send("/offices", user=ADMIN)
    await a.click_button("Student Affairs", user=ADMIN)
    await a.click_button("Phone", user=ADMIN)
    await a.send("+7 (7122) 27-63-18", user=ADMIN)
    assert "Saved" in a.last_text(ADMIN.id)
    await b.send("is the volleyball section free", user=STUDENT_EN)
    text = b.last_text(STUDENT_EN.id)
    assert "Student Affairs and Youth Policy Office handles it" in text
    assert "☎️ +7 (7122) 27-63-18" in text
