"""End to end: the real ``python -m bot run`` process against the local Bot API server.

A Russian-speaking student opens the bot, sees the Russian greeting with the language buttons,
picks Kazakh, and from then on the bot writes in Kazakh; SIGTERM stops the bot cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from babel.messages.pofile import read_po

from bot.config import LANGUAGES, Settings
from bot.menu import LanguageCallback
from devtools.fake_botapi import Call, FakeBotAPI

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
TOKEN = "123456:AAEhBP0av28sBkAcTQyBbG2Mz6ZLvjpAbCd"
STUDENT = 5550001
STUDENT_NAME = "Айгерим"
START_TIMEOUT = 60  # migrations and imports on a cold machine
REPLY_TIMEOUT = 15
STOP_TIMEOUT = 15

T = TypeVar("T")


def translation(lang: str, msgid: str) -> str:
    """The catalog's translation, so the test follows wording changes but not missing ones."""
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        message = read_po(fh, locale=lang).get(msgid)
    assert message is not None and message.string, f"{lang} catalog lacks {msgid!r}"
    assert message.string != msgid
    return str(message.string)


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any bot setting, plus ``overrides``."""
    settings_vars = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in settings_vars}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


class BotProcess:
    """The bot as a child process, its output in a log file for failure messages."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def expect(self, awaitable: Awaitable[T], what: str) -> T:
        """Await ``awaitable``, failing with the bot's log if the process exits first."""
        waiting: asyncio.Future[T] = asyncio.ensure_future(awaitable)
        exited = asyncio.ensure_future(self.process.wait())
        futures: set[asyncio.Future[Any]] = {waiting, exited}
        try:
            await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                try:
                    return waiting.result()
                except TimeoutError as error:
                    pytest.fail(f"{what}: {error}\n--- bot log ---\n{self.log()}")
            pytest.fail(
                f"{what}: the bot exited with {self.process.returncode}\n"
                f"--- bot log ---\n{self.log()}"
            )
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await future


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
async def start_bot(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """Starts ``python -m bot run``; whatever happens, the process is killed afterwards."""
    started: list[BotProcess] = []

    async def start(*args: str, **env: str) -> BotProcess:
        log_path = tmp_path / f"bot-{len(started)}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                cwd=tmp_path,  # no developer .env is read
                env=clean_env(**env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        bot = BotProcess(process, log_path)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        if bot.process.returncode is None:
            bot.process.kill()
            await bot.process.wait()


def to_student(call: Call) -> bool:
    """An answered call addressed to the student (so ``call.result`` is there to read)."""
    return call.answered and call.params.get("chat_id") == STUDENT


def with_inline_keyboard(call: Call) -> bool:
    return to_student(call) and "inline_keyboard" in call.params.get("reply_markup", {})


async def test_student_meets_the_bot_in_russian_then_switches_to_kazakh(
    api: FakeBotAPI, start_bot: Callable[..., Awaitable[BotProcess]], tmp_path: Path
) -> None:
    bot = await start_bot(
        "run",
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    )
    await bot.expect(api.wait_for("getUpdates", timeout=START_TIMEOUT), "the bot never polled")

    # A new student whose Telegram is in Russian sends /start.
    api.push_message(STUDENT, "/start", language_code="ru", first_name=STUDENT_NAME)
    [greeting] = await bot.expect(
        api.wait_for("sendMessage", to_student, timeout=REPLY_TIMEOUT), "no reply to /start"
    )
    expected = translation(
        "ru",
        "Hello, {name}! I am the student assistant of Kh. Dosmukhamedov Atyrau University.\n"
        "Choose your language:",
    ).format(name=STUDENT_NAME)
    assert greeting.params["text"] == expected
    buttons = [b for row in greeting.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["callback_data"] for b in buttons] == [
        LanguageCallback(code=code).pack() for code in LANGUAGES
    ]

    # She presses «Қазақша» under the greeting.
    greeting_id = greeting.result["message_id"]
    since = len(api.calls)
    kazakh = LanguageCallback(code="kk").pack()
    api.push_callback(STUDENT, kazakh, message_id=greeting_id, language_code="ru")
    await bot.expect(
        api.wait_for("answerCallbackQuery", since=since, timeout=REPLY_TIMEOUT),
        "the language button was not answered",
    )
    [edit] = await bot.expect(
        api.wait_for("editMessageText", to_student, since=since, timeout=REPLY_TIMEOUT),
        "the greeting was not edited",
    )
    assert edit.params["message_id"] == greeting_id
    assert edit.params["text"] == translation("kk", "Language: English")
    assert edit.error_code is None

    # The choice is stored: /language now answers in Kazakh though Telegram still says "ru".
    since = len(api.calls)
    api.push_message(STUDENT, "/language", language_code="ru", first_name=STUDENT_NAME)
    [prompt] = await bot.expect(
        api.wait_for("sendMessage", with_inline_keyboard, since=since, timeout=REPLY_TIMEOUT),
        "no reply to /language",
    )
    assert prompt.params["text"] == translation("kk", "Choose your language:")

    # SIGTERM stops polling and the bot exits cleanly.
    bot.process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            returncode = await bot.process.wait()
    except TimeoutError:
        pytest.fail(f"the bot ignored SIGTERM for {STOP_TIMEOUT}s\n{bot.log()}")
    assert returncode == 0, bot.log()
    assert "Traceback" not in bot.log(), bot.log()
    assert [c.error_code for c in api.errors] == [], api.errors


async def test_run_without_a_token_exits_2_with_one_line_on_stderr(tmp_path: Path) -> None:
    script = shutil.which("studentbot", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "bot"]
    env = clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    process = await asyncio.create_subprocess_exec(
        *command,
        "run",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(START_TIMEOUT):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 2, stderr.decode()
    assert len(lines) == 1, stderr.decode()
    assert "BOT_TOKEN" in lines[0]
    assert stdout == b""
