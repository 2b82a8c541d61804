"""The ``studentbot`` command: clear errors with exit status 2, roles, the piped local chat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.db.base import create_engine, create_sessionmaker
from bot.db.models import User

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No token, no .env: the tests run in an empty folder with a throwaway database."""
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "WEBHOOK_URL", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    return tmp_path


def test_run_without_token_says_what_to_set(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "BOT_TOKEN is not set" in err[0]
    assert "Traceback" not in err[0]


def test_malformed_token(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "not-a-token")
    assert main(["run"]) == 2
    assert "BOT_TOKEN is malformed" in capsys.readouterr().err


def test_bad_database_url(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "nonsense://")
    assert main(["db", "upgrade"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err


def test_unreachable_database(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "cannot use the database" in err and "secret" not in err and "Traceback" not in err


def test_bad_timezone(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    assert main(["db", "upgrade"]) == 2
    assert "TIMEZONE is invalid" in capsys.readouterr().err


async def _role(url: str, user_id: int) -> str | None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await session.scalar(select(User.role).where(User.id == user_id))
    finally:
        await engine.dispose()


def test_grant_role(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    assert main(["grant", "staff", "555"]) == 0
    assert "user 555 is now staff" in capsys.readouterr().out
    assert asyncio.run(_role(os.environ["DATABASE_URL"], 555)) == "staff"


def test_piped_local_chat_answers_start_in_chosen_language(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "REDIS_URL"}}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/chat.db"
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--lang", "ru"],
        input="/start\n2\n/help\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Здравствуйте" in out and "[2] Русский" in out
    assert "Язык: русский" in out
    assert "/rules — Просмотреть положение" in out
