"""Issue 16, item 8: the flood notice tells the truth; a closed stdout is not a database error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness import STUDENT_EN, Harness


async def test_flood_notice_does_not_promise_an_answer_to_dropped_messages(
    database_url: str,
) -> None:
    """A student pastes ten lines at once: the lines over the limit are not answered, and the
    notice says so — it does not promise a reply that never comes."""
    h = await Harness.create(database_url, flood_limit=3, flood_window=60)
    try:
        for i in range(10):
            await h.send(f"question {i}: can I study online?", user=STUDENT_EN)
        texts = h.texts(STUDENT_EN.id)
        notice = texts[-1]
        assert "did not read your last ones" in notice and "send your question again" in notice
        assert "I will answer" not in notice
        assert len(texts) == 4  # three answers, one notice; the rest were dropped
    finally:
        await h.close()


def test_a_reader_that_leaves_early_is_not_reported_as_a_database_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`studentbot kb export | head`: head closes the pipe; the command stops quietly with
    the usual SIGPIPE status instead of "cannot use the database"."""
    from bot.cli import EXIT_BROKEN_PIPE, main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone
    closed = open(write_end, "w", encoding="utf-8")
    monkeypatch.setattr("sys.stdout", closed)
    try:
        assert main(["kb", "export", "--lang", "ru"]) == EXIT_BROKEN_PIPE
    finally:
        monkeypatch.undo()
        try:
            closed.close()
        except OSError:
            pass
    err = capsys.readouterr().err
    assert "database" not in err and "Traceback" not in err


def test_every_button_family_has_its_own_prefix() -> None:
    """Two CallbackData classes with one prefix route each other's presses (a merge once
    gave the statement-copy buttons the prefix of «📝 Apply» under an answer)."""
    from aiogram.filters.callback_data import CallbackData

    from handlers import get_routers

    get_routers()  # imports every handler module

    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    prefixes = [c.__prefix__ for c in subclasses(CallbackData)]  # type: ignore[attr-defined]
    assert len(prefixes) == len(set(prefixes)), sorted(prefixes)
