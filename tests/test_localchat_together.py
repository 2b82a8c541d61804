"""Issue 16, item 10: the local chat shows all of it.

Two local chats on one SQLite database, as in two terminals: a student in one, a helpdesk staff
member (``--staff``) in the other. The student's request and application reach the staff
chat; staff answer the request and approve the application by typing, without Telegram. A
curator's broadcast, delivered by the background worker of the curator's local chat, reaches
the student's terminal.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db.base import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.db.models import Role
from bot.localchat import LocalChatApp
from bot.services.users import UserRepository

ROOT = Path(__file__).resolve().parent.parent
STUDENT_ID, STAFF_ID, CURATOR_ID = 1001, 2001, 3001


def settings_for(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        _env_file=None,
        redis_url=None,
        flood_limit=0,
        default_language="en",  # the staff chat's language
    )


async def grant(settings: Settings, user_id: int, role: Role) -> None:
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await UserRepository(session).set_role(user_id, role)
            await session.commit()
    finally:
        await engine.dispose()


def number_of(app: LocalChatApp, label: str) -> str:
    for n, choice in enumerate(app.printer.choices, 1):
        if label in choice.label:
            return str(n)
    raise AssertionError(f"no choice {label!r} in {[c.label for c in app.printer.choices]}")


async def test_student_and_staff_in_two_local_chats(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await grant(settings, STAFF_ID, Role.STAFF)
    student_out, staff_out = io.StringIO(), io.StringIO()
    async with (
        LocalChatApp(
            settings,
            lang="en",
            user_id=STUDENT_ID,
            name="Aigerim",
            stdout=student_out,
            workers=False,
        ) as student,
        LocalChatApp(
            settings,
            lang="en",
            user_id=STAFF_ID,
            name="Dana",
            staff=True,
            stdout=staff_out,
            workers=False,
        ) as staff,
    ):
        # The student asks for a person; the staff terminal sees the topic, card and question.
        await student.chat.send_line("/start")
        await student.chat.send_line(number_of(student, "English"))
        await student.chat.send_line("/human")
        await student.chat.send_line(number_of(student, "Technical"))
        await student.chat.send_line("My LMS password does not work")
        assert "Request #1 is open" in student_out.getvalue()
        assert "Ticket #1" not in student_out.getvalue()  # the staff chat is not the student's
        staff.chat.poll_hub()
        seen = staff_out.getvalue()
        assert "— topic «#1 Aigerim" in seen
        assert "Ticket #1" in seen and "[staff chat · topic" in seen
        assert "Aigerim> My LMS password does not work" in seen

        # Staff answer in the topic by typing "> …"; the student's terminal shows it.
        await staff.chat.send_line("> Reset it at lms.atyrau.edu.kz, then log in again.")
        student.chat.poll_hub()
        assert "Dana> Reset it at lms.atyrau.edu.kz" in student_out.getvalue()
        await staff.chat.send_line("> /close")
        student.chat.poll_hub()
        assert "closed your request #1" in student_out.getvalue()

        # An online-form application: staff approve it with the card's button.
        await student.chat.send_line("/apply")
        await student.chat.send_line(number_of(student, "Online form"))
        for line in ("6B06102", "Sadykova Aigerim", "900101300126", "87012345678"):
            await student.chat.send_line(line)
        for _ in range(3):
            await student.chat.send_line(number_of(student, "I accept"))
        await student.chat.send_line(number_of(student, "Submit"))
        staff.chat.poll_hub()
        assert "New application OL-" in staff_out.getvalue()
        assert "[document:" in staff_out.getvalue()  # the statement, saved to a file
        await staff.chat.send_line(number_of(staff, "Approve"))
        student.chat.poll_hub()
        assert "is approved" in student_out.getvalue()


async def test_a_curators_broadcast_reaches_the_student_in_the_other_chat(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    await grant(settings, CURATOR_ID, Role.CURATOR)
    student_out, curator_out = io.StringIO(), io.StringIO()
    async with (
        LocalChatApp(settings, lang="en", user_id=STUDENT_ID, stdout=student_out) as student,
        LocalChatApp(settings, lang="en", user_id=CURATOR_ID, stdout=curator_out) as curator,
    ):
        daytime = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)  # 15:00 in Atyrau: not quiet hours
        assert curator.ctx is not None
        curator.ctx.services.broadcasts.now = lambda: daytime
        await curator.chat.send_line("/newgroup IT-21")
        code = curator_out.getvalue().split("/join ")[1].split(")")[0].strip()
        await student.chat.send_line(f"/join {code}")
        await curator.chat.send_line("/broadcast")
        await curator.chat.send_line("Group meeting tomorrow at 10:00")
        await curator.chat.send_line(number_of(curator, "Preview"))
        await curator.chat.send_line(number_of(curator, "Send now"))
        await curator.settle()  # the curator's delivery worker sends it
        for _ in range(40):
            if student.chat.poll_hub():
                break
            await asyncio.sleep(0.05)
        assert "bot> Group meeting tomorrow at 10:00" in student_out.getvalue()


@pytest.mark.e2e
def test_two_local_chat_processes_on_one_database(tmp_path: Path) -> None:
    """The README's two-terminal walk-through as two real processes."""
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        PYTHONPATH=str(ROOT),
        DEFAULT_LANGUAGE="en",
    )
    env.pop("STAFF_CHAT_ID", None)

    def studentbot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=180,
            check=False,
        )

    assert studentbot("grant", "staff", str(STAFF_ID)).returncode == 0
    staff = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--user", str(STAFF_ID), "--staff", "--lang", "en"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert staff.stdin is not None and staff.stdout is not None
        staff.stdin.write("/help\n")
        staff.stdin.flush()
        # Wait until the staff chat is up (it prints its /help) before the student writes.
        for line in staff.stdout:
            if "/calendar" in line:
                break
        student = studentbot(
            "chat",
            "--user",
            str(STUDENT_ID),
            "--lang",
            "en",
            stdin="/human\n3\nMy LMS password does not work\n",
        )
        assert student.returncode == 0, student.stderr
        assert "Request #1 is open" in student.stdout
        out, err = staff.communicate("> We reset it, try again.\n", timeout=120)
        assert staff.returncode == 0, err
        assert "My LMS password does not work" in out and "Ticket #1" in out
    finally:
        if staff.poll() is None:
            staff.kill()
            staff.wait()
