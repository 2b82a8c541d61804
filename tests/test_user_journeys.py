"""Users' stories found by playing the assistant as its users would, each a bug once seen.

Each test tells what a user did and asserts what they saw.
"""

from __future__ import annotations

import io

from bot.config import Settings
from bot.localchat import run_chat
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness  # noqa: F401


async def _chat(database_url: str, lines: list[str], *, lang: str = "en") -> str:
    settings = Settings(database_url=database_url, _env_file=None, redis_url=None)  # type: ignore[call-arg]
    out = io.StringIO()
    await run_chat(settings, lang=lang, stdin=io.StringIO("".join(f"{x}\n" for x in lines)), stdout=out)
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
