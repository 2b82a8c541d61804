"""Issue 16, item 7: everyone can find what they may do.

/help lists the commands of the reader's role, Telegram's command menu of each chat follows the
user's role (BotCommandScopeChat, set again when the role or the language changes), a staff
command sent in private says where it works, and "Who are you?" gets an introduction.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import DeleteMyCommands, SetMyCommands
from aiogram.types import BotCommandScopeChat

from bot.db.models import Role
from bot.services.users import UserRepository
from tests.harness import STAFF, STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser

CURATOR = TgUser(id=3001, first_name="Kuanysh", last_name="Curator", language_code="ru")


async def grant(h: Harness, user_id: int, role: Role) -> None:
    async with h.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(user_id, role)
        await session.commit()


def menus(calls: list[Any], chat_id: int) -> list[Any]:
    return [
        c
        for c in calls
        if isinstance(c, (SetMyCommands, DeleteMyCommands))
        and isinstance(c.scope, BotCommandScopeChat)
        and c.scope.chat_id == chat_id
    ]


async def test_help_lists_the_commands_of_each_role(harness: Harness) -> None:
    """A student, a curator and a staff member each send /help: each sees their own tools."""
    h = harness
    await h.send("/help", user=STUDENT_EN)
    student = h.last_text(STUDENT_EN.id)
    assert "/profile" in student and "/join" in student and "/rules" in student
    assert "/broadcast" not in student and "/calendar" not in student

    await grant(h, CURATOR.id, Role.CURATOR)
    await h.send("/help", user=CURATOR)
    curator = h.last_text(CURATOR.id)
    for command in ("/newgroup", "/groups", "/broadcast", "/profile"):
        assert command in curator, command
    assert "Для кураторов" in curator and "/calendar" not in curator

    await grant(h, STAFF.id, Role.STAFF)
    await h.send("/help", user=STAFF)
    staff = h.last_text(STAFF.id)
    for command in ("/calendar", "/tickets", "/take", "/broadcast", "/newgroup"):
        assert command in staff, command
    # Commands are listed once a handler takes them: /unanswered, /offices and /stats have.
    registered = {"/unanswered": True, "/offices": True, "/stats": True}
    for command, shown in registered.items():
        assert (command in staff) == shown, command


async def test_the_command_menu_follows_the_role(harness: Harness) -> None:
    """A student is made staff: their next message gives their chat the staff menu, in their
    language; made a student again, the chat goes back to the default menu."""
    h, user = harness, STAFF
    calls = await h.send("/start", user=user)
    assert not menus(calls, user.id)  # a student in their app's language: the default menu
    await grant(h, user.id, Role.STAFF)
    calls = await h.send("/help", user=user)
    [menu] = menus(calls, user.id)
    assert isinstance(menu, SetMyCommands)
    names = [c.command for c in menu.commands]
    assert {"calendar", "broadcast", "newgroup", "profile", "help"} <= set(names)
    assert "tickets" not in names  # a staff-chat command: not in the private menu
    assert any("календар" in c.description.lower() for c in menu.commands)  # Russian
    calls = await h.send("/help", user=user)
    assert not menus(calls, user.id)  # set once, not on every message

    await grant(h, user.id, Role.STUDENT)
    calls = await h.send("/help", user=user)
    assert [type(m) for m in menus(calls, user.id)] == [DeleteMyCommands]


async def test_a_chosen_language_gets_its_own_menu(harness: Harness) -> None:
    """An English-speaking phone, Russian chosen in the bot: the menu speaks Russian too."""
    h, user = harness, STUDENT_EN
    await h.send("/start", user=user)
    calls = await h.click_button("Русский", user=user)
    [menu] = menus(calls, user.id)
    assert any(c.command == "rules" and "положение" in c.description for c in menu.commands)


async def test_a_staff_command_in_private_says_where_it_works(harness: Harness) -> None:
    h = harness
    await grant(h, STAFF.id, Role.STAFF)
    await h.send("/tickets", user=STAFF)
    said = h.last_text(STAFF.id)
    assert "/tickets" in said and "чат" in said.lower()
    assert "не знаю" not in said.lower()
    # A student trying a curator's command is told whose it is.
    await h.send("/broadcast", user=STUDENT_EN)
    assert "curators and staff" in h.last_text(STUDENT_EN.id)


@pytest.mark.parametrize(
    ("user", "question", "expected"),
    [
        (STUDENT_EN, "Who are you?", "a program, not a person"),
        (STUDENT_RU, "Кто ты?", "программа, а не человек"),
        (STUDENT_RU, "ты кто такой", "программа, а не человек"),
        (STUDENT, "Сен кімсің?", "адам емес"),
    ],
)
async def test_who_are_you_gets_an_introduction(
    harness: Harness, user: TgUser, question: str, expected: str
) -> None:
    await harness.send(question, user=user)
    said = harness.last_text(user.id)
    assert expected in said
    assert "/rules" in said and "/human" in said


def test_granting_a_role_sets_the_menu_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`studentbot grant staff ID` with a token: the user's menu changes before they write."""
    from bot.cli import main
    from devtools.fake_botapi import FakeBotAPI

    token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"

    async def scenario() -> dict[str, Any]:
        async with FakeBotAPI(token=token) as api:
            monkeypatch.setenv("BOT_TOKEN", token)
            monkeypatch.setenv("TELEGRAM_API_URL", api.base_url)
            assert await asyncio.to_thread(main, ["grant", "staff", "555"]) == 0
            return dict(api.commands)

    for name in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    commands = asyncio.run(scenario())
    out = capsys.readouterr().out
    assert "user 555 is now staff" in out and "menu is updated" in out
    scoped = {
        key: value
        for key, value in commands.items()
        if json.loads(key)[0] == {"type": "chat", "chat_id": 555}
    }
    [menu] = scoped.values()
    assert "calendar" in [c["command"] for c in menu]
