"""Two processes on one database (issue 12): an FAQ entry published in one is answered by the
other at once, an office edited in one shows in the other, and the askers are told once even
when both processes run the follow-up worker."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiogram.methods import SendMessage

from bot import hotcache
from bot.commands.faq import cmd_import
from bot.config import Settings
from bot.hotcache import HotCache
from knowledge.faq import FaqEntry
from tests.faq_support import (
    daytime,
    make_staff,
    not_covered_harness,
    staff_click,
    staff_send,
)
from tests.harness import ADMIN, STAFF, STUDENT_EN, STUDENT_RU, Harness, statements_on


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


# --- issue 18: the FAQ's version is read only when a bump was seen ---------------------------

PRINTING = {
    "id": "printing",
    "office": "library",
    "tags": ["printing"],
    "to_confirm": False,
    "confirmed_by": "Library, 2026-12-06",
    "reviewed": "2026-12-06",
    "question": {"ru": "Где распечатать курсовую?", "en": "Where can I print my coursework?"},
    "variants": {"ru": ["распечатать курсовую"], "en": ["print my coursework"]},
    "answer": {"ru": "В читальном зале библиотеки.", "en": "In the library's reading room."},
}
ASKED = "where can I print my coursework?"
NEW_ANSWER = "In the library's reading room."


async def save_printing(writer: Harness) -> None:
    """Staff (or an import) publish the entry through ``writer``'s process."""
    async with writer.ctx.sessionmaker() as session:
        entry = FaqEntry.from_data(PRINTING, where="test", origin="staff")
        await writer.ctx.services.faq.save_entry(session, entry)
        await session.commit()


def alone(h: Harness) -> HotCache:
    """``h`` plays a process of its own: no commit of this interpreter reaches its cache
    directly (only Redis, or the ttl)."""
    cache = hotcache.of(h.ctx.engine)
    hotcache._caches.discard(cache)
    return cache


@pytest.fixture
async def redis_pair(database_url: str, redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    first = await not_covered_harness(database_url, redis_url=redis_url)
    second = await not_covered_harness(database_url, redis_url=redis_url)
    second._update_ids = itertools.count(100_000)
    second._message_ids = itertools.count(100_000)
    alone(second)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_an_entry_made_in_another_process_is_answered_here_after_the_bump(
    redis_pair: tuple[Harness, Harness],
) -> None:
    a, b = redis_pair
    await b.send(ASKED, user=STUDENT_EN)  # B knows the FAQ's version now
    assert NEW_ANSWER not in b.last_text(STUDENT_EN.id)
    await save_printing(a)
    await hotcache.of(b.ctx.engine).sync()  # the bump's invalidation has reached B
    await b.send(ASKED, user=STUDENT_EN)
    assert NEW_ANSWER in b.last_text(STUDENT_EN.id)


async def test_an_entry_imported_by_the_cli_is_answered_by_the_bot_after_the_import(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    bot = await not_covered_harness(database_url, redis_url=redis_url)
    try:
        alone(bot)
        await bot.send(ASKED, user=STUDENT_EN)
        assert NEW_ANSWER not in bot.last_text(STUDENT_EN.id)
        path = tmp_path / "faq.yaml"
        path.write_text(yaml.safe_dump({"entries": [PRINTING]}), encoding="utf-8")
        settings = Settings(  # type: ignore[call-arg]
            database_url=database_url, redis_url=redis_url, _env_file=None
        )
        assert await cmd_import(argparse.Namespace(file=str(path)), settings) == 0
        await hotcache.of(bot.ctx.engine).sync()
        await bot.send(ASKED, user=STUDENT_EN)
        assert NEW_ANSWER in bot.last_text(STUDENT_EN.id)
    finally:
        await bot.close()


async def test_without_redis_a_write_of_another_process_is_answered_after_the_ttl(
    database_url: str,
) -> None:
    writer = await not_covered_harness(database_url)
    bot = await not_covered_harness(database_url)
    bot._update_ids = itertools.count(100_000)
    now = [0.0]
    cache = alone(bot)
    cache.tables[hotcache.FAQ].clock = lambda: now[0]
    try:
        await bot.send(ASKED, user=STUDENT_EN)
        await save_printing(writer)  # a CLI command on the same machine, say
        await bot.send(ASKED, user=STUDENT_EN)
        assert NEW_ANSWER not in bot.last_text(STUDENT_EN.id)  # the version is still known
        now[0] += cache.tables[hotcache.FAQ].ttl + 1
        await bot.send(ASKED, user=STUDENT_EN)
        assert NEW_ANSWER in bot.last_text(STUDENT_EN.id)
    finally:
        await writer.close()
        await bot.close()


async def test_steady_answering_reads_no_faq_version(database_url: str) -> None:
    h = await not_covered_harness(database_url)
    try:
        await h.send(ASKED, user=STUDENT_EN)  # the version is read once
        with statements_on(h) as statements:
            for text in (ASKED, "где распечатать курсовую в университете?", "is there a pool"):
                await h.send(text, user=STUDENT_RU)
                assert h.last_text(STUDENT_RU.id)  # answered (from the FAQ or an office)
        assert statements  # the questions were stored
        assert not [s for s in statements if "faq_versions" in s]
    finally:
        await h.close()
