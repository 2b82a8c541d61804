"""The local Bot API server answers a real aiogram Bot the way Telegram would."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
)

from devtools.fake_botapi import FakeBotAPI, UploadedFile

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:AAEhBP0av28sBkAcTQyBbG2Mz6ZLvjpAbCd"
STUDENT = 777


def make_bot(api: FakeBotAPI, token: str = TOKEN, timeout: float = 60) -> Bot:
    server = TelegramAPIServer.from_base(api.base_url)
    return Bot(token, session=AiohttpSession(api=server, timeout=timeout))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [[InlineKeyboardButton(text=item, callback_data=item)] for item in data]
    return InlineKeyboardMarkup(inline_keyboard=buttons)


async def test_get_me_describes_the_bot_behind_the_token(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456
    assert me.is_bot
    assert api.calls[-1].method == "getMe"


async def test_a_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    stranger = make_bot(api, token="654321:BBEhBP0av28sBkAcTQyBbG2Mz6ZLvjpAbCd")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_send_message_round_trip_is_recorded_and_parsed(api: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(STUDENT, "Сәлем!", reply_markup=keyboard("kk", "ru"))
    second = await bot.send_message(STUDENT, "Привет!")

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == STUDENT
    assert first.from_user is not None and first.from_user.is_bot
    assert first.reply_markup is not None
    assert first.reply_markup.model_dump() == keyboard("kk", "ru").model_dump()
    method, params = api.calls[0]
    assert method == "sendMessage"
    assert params["chat_id"] == STUDENT
    assert params["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "ru"
    assert api.sent_texts(STUDENT) == ["Сәлем!", "Привет!"]


async def test_long_poll_returns_a_pushed_update_at_once_and_honours_offset(
    api: FakeBotAPI, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(offset=0, timeout=30))
    await api.wait_for("getUpdates")
    api.push_message(STUDENT, "/start", language_code="ru")

    async with asyncio.timeout(2):  # far below the 30 s long-poll timeout
        [update] = await poll
    assert update.message is not None and update.message.text == "/start"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "ru"

    api.push_message(STUDENT, "second")
    again = await bot.get_updates(offset=update.update_id, timeout=0)
    assert [u.update_id for u in again] == [update.update_id, update.update_id + 1]

    confirmed = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert [u.update_id for u in confirmed] == [update.update_id + 1]
    assert await bot.get_updates(offset=update.update_id + 2, timeout=0) == []
    assert api.pending_updates == 0


async def test_get_updates_respects_limit(api: FakeBotAPI, bot: Bot) -> None:
    for n in range(5):
        api.push_message(STUDENT, f"question {n}")

    updates = await bot.get_updates(limit=2, timeout=0)

    assert [u.message.text for u in updates if u.message] == ["question 0", "question 1"]


async def test_a_new_poller_terminates_the_old_one(api: FakeBotAPI, bot: Bot) -> None:
    old = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_for("getUpdates")
    new = asyncio.create_task(bot.get_updates(timeout=30))

    with pytest.raises(TelegramConflictError):
        await old
    new.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await new


async def test_callback_press_can_be_answered_and_the_message_edited(
    api: FakeBotAPI, bot: Bot
) -> None:
    sent = await bot.send_message(STUDENT, "Choose a language", reply_markup=keyboard("ru"))
    api.push_callback(STUDENT, "lang:ru")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.data == "lang:ru"
    assert query.message is not None and query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query.id)
    edited = await bot.edit_message_text("Язык: русский", chat_id=STUDENT, message_id=1)

    assert isinstance(edited, type(sent)) and edited.text == "Язык: русский"
    assert api.sent_texts(STUDENT, include_edits=True) == ["Choose a language", "Язык: русский"]
    assert api.calls_of("sendMessage")[0].result["text"] == "Choose a language"  # a snapshot
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Язык: русский", chat_id=STUDENT, message_id=1)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_too_long_text_and_callback_data_are_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(STUDENT, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(STUDENT, "menu", reply_markup=keyboard("d" * 65))


async def test_rate_limit_answers_429_with_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.rate_limit_per_second = 3
    now = [1000.0]
    api.clock = lambda: now[0]
    for n in range(3):
        await bot.send_message(STUDENT, f"news {n}")

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(STUDENT, "news 3")

    assert caught.value.retry_after == 1
    assert api.rate_limited == 1
    assert api.errors[-1].error_code == 429
    now[0] += 1.0  # a second later the window has room again
    await bot.send_message(STUDENT, "news 3")
    assert api.sent_texts(STUDENT) == ["news 0", "news 1", "news 2", "news 3"]


async def test_fail_next_injects_an_error_once(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(STUDENT, "hello")
    await bot.send_message(STUDENT, "hello again")

    assert [call.error_code for call in api.calls_of("sendMessage")] == [403, None]


async def test_blocked_user_gets_403(api: FakeBotAPI, bot: Bot) -> None:
    api.block_user(STUDENT)

    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(STUDENT, "broadcast")


async def test_a_slow_method_times_out_on_the_client(api: FakeBotAPI) -> None:
    api.set_delay("sendMessage", 30)
    impatient = make_bot(api, timeout=0.2)
    try:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(STUDENT, "hello")
    finally:
        await impatient.session.close()
    assert api.sent_texts(STUDENT) == []


async def test_multipart_send_document_is_recorded_with_the_file(
    api: FakeBotAPI, bot: Bot
) -> None:
    content = "Өтініш / Заявление".encode()
    message = await bot.send_document(
        STUDENT, BufferedInputFile(content, filename="application.docx"), caption="Шаблон"
    )

    [call] = await api.wait_for("sendDocument")
    uploaded = call.params["document"]
    assert isinstance(uploaded, UploadedFile)
    assert (uploaded.field, uploaded.filename, uploaded.data) == (
        "document",
        "application.docx",
        content,
    )
    assert call.params["caption"] == "Шаблон"
    assert message.document is not None and message.document.file_size == len(content)
    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == content


async def test_json_and_urlencoded_bodies_are_understood(api: FakeBotAPI) -> None:
    url = f"{api.base_url}/bot{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": STUDENT, "text": "json"}) as response:
            as_json = await response.json()
        async with http.post(url, data={"chat_id": str(STUDENT), "text": "42"}) as response:
            as_form = await response.json()
        async with http.post(url, data={"chat_id": str(STUDENT)}) as response:
            empty = await response.json()

    assert as_json["ok"] and as_json["result"]["text"] == "json"
    assert as_form["ok"] and as_form["result"]["text"] == "42"  # text stays a string
    assert api.calls[1].params == {"chat_id": STUDENT, "text": "42"}
    assert (empty["ok"], empty["error_code"]) == (False, 400)
    assert empty["description"] == "Bad Request: message text is empty"


async def test_staff_reply_in_a_forum_topic_reaches_the_bot(api: FakeBotAPI, bot: Bot) -> None:
    staff_chat, staff_member = -1001234567890, 9001
    topic = await bot.create_forum_topic(staff_chat, "Student 777")
    copied = await bot.send_message(
        staff_chat, "Question from 777", message_thread_id=topic.message_thread_id
    )
    api.push_message(
        staff_member,
        "Answer",
        chat_id=staff_chat,
        message_thread_id=topic.message_thread_id,
        reply_to_message_id=copied.message_id,
    )

    [update] = await bot.get_updates(timeout=0)

    message = update.message
    assert message is not None and message.chat.type == "supergroup"
    assert message.message_thread_id == topic.message_thread_id
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == copied.message_id
    assert await bot.close_forum_topic(staff_chat, topic.message_thread_id)


async def test_wait_for_counts_many_concurrent_sends(api: FakeBotAPI, bot: Bot) -> None:
    api.rate_limit_per_second = 250
    api.clock = lambda: 1000.0  # all 300 sends fall in one second, however slow the machine
    sends = [bot.send_message(1000 + n, f"announcement {n}") for n in range(300)]
    results = await asyncio.gather(*sends, return_exceptions=True)

    delivered = await api.wait_for(
        "sendMessage", lambda call: call.answered and call.error_code is None, count=250
    )

    assert len(delivered) == 250
    assert sum(isinstance(result, TelegramRetryAfter) for result in results) == 50
    assert api.rate_limited == 50


async def test_other_sends_and_albums_get_parseable_messages(bot: Bot) -> None:
    location = await bot.send_location(STUDENT, latitude=47.1, longitude=51.9)
    album = await bot.send_media_group(
        STUDENT, [InputMediaPhoto(media="photo-a"), InputMediaPhoto(media="photo-b")]
    )

    assert location.chat.id == STUDENT
    assert [m.message_id for m in album] == [location.message_id + 1, location.message_id + 2]


async def test_wait_for_reports_what_came_instead(api: FakeBotAPI, bot: Bot) -> None:
    await bot.get_me()

    with pytest.raises(TimeoutError, match="getMe"):
        await api.wait_for("sendMessage", timeout=0.05)


async def test_standalone_entry_point_prints_its_url() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.fake_botapi",
        "--port",
        "0",
        cwd=ROOT,  # devtools/ is beside tests/, not installed
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            url = (await process.stdout.readline()).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/bot{TOKEN}/getMe") as response:
                body = await response.json()
            async with http.post(f"{url}/_fake/message", json={"user_id": 5, "text": "hi"}):
                pass
            async with http.get(f"{url}/bot{TOKEN}/getUpdates?timeout=0") as response:
                updates = await response.json()
        assert body["ok"] and body["result"]["id"] == 123456
        assert updates["result"][0]["message"]["text"] == "hi"
        process.terminate()
        async with asyncio.timeout(10):
            _, stderr = await process.communicate()
        assert process.returncode == 0
        assert b"FakeBotAPI stopped" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_per_chat_and_per_group_limits_answer_429(api: FakeBotAPI, bot: Bot) -> None:
    api.chat_limit = (2, 1.0)
    api.group_limit = (3, 60.0)
    now = [1000.0]
    api.clock = lambda: now[0]
    await bot.send_message(STUDENT, "a")
    await bot.send_message(STUDENT, "b")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(STUDENT, "c")
    await bot.send_message(STUDENT + 1, "another chat is not affected")
    for n in range(3):
        await bot.send_message(-100500, f"group {n}")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(-100500, "group 3")
    assert caught.value.retry_after == 60
    assert api.chat_limited == 2 and api.rate_limited == 2
    now[0] += 1.0
    await bot.send_message(STUDENT, "c")
    assert api.sent_texts(STUDENT) == ["a", "b", "c"]
