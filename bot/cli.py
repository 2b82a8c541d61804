"""``studentbot``: run the bot, the local chat, migrations, roles, and the areas' commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from bot.config import LANGUAGES, ConfigError, Settings, load_settings

EXIT_CONFIG = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


async def cmd_default(args: argparse.Namespace, settings: Settings) -> int:
    """No subcommand: the bot when a token is configured, else the local chat."""
    if settings.bot_token is not None and settings.bot_token.get_secret_value().strip():
        return await cmd_run(args, settings)
    args.lang = None
    return await cmd_chat(args, settings)


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import run

    settings.token()  # fail early with a clear line
    await run(settings)
    return 0


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.localchat import run_chat

    await run_chat(
        settings,
        lang=args.lang or settings.default_language,
        user_id=getattr(args, "user", None) or 1,
        name=getattr(args, "name", None),
        staff=bool(getattr(args, "staff", False)),
    )
    return 0


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.migrate import upgrade

    await upgrade(settings.database_url, args.revision)
    print(f"database at {_safe_url(settings.database_url)} is at {args.revision}")
    return 0


async def cmd_db_backup(args: argparse.Namespace, settings: Settings) -> int:
    """A consistent copy of the SQLite database while the bot runs (SQLite's online backup)."""
    from bot.db.backup import backup_sqlite

    if settings.is_postgres:
        return _fail(
            "db backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. "
            'pg_dump --format=custom --file=studentbot.dump "$DATABASE_URL_WITHOUT_DRIVER" '
            "(see the README's backups section)"
        )
    target = await asyncio.to_thread(backup_sqlite, settings.database_url, args.output)
    print(f"backup of {_safe_url(settings.database_url)} written to {target}")
    return 0


async def cmd_grant(args: argparse.Namespace, settings: Settings) -> int:
    from bot import hotcache
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from bot.db.models import Role
    from bot.services.users import UserRepository

    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        # the bot processes forget the user's cached row at once (bot.hotcache), not after its ttl
        async with (
            hotcache.announcing(engine, settings.redis_url),
            create_sessionmaker(engine)() as session,
        ):
            user = await UserRepository(session).set_role(args.user_id, Role(args.role))
            await session.commit()
            print(f"user {user.id} is now {user.role}")
            print(await _refresh_command_menu(settings, user))
            await session.commit()
    finally:
        await engine.dispose()
    return 0


async def _refresh_command_menu(settings: Settings, user: Any) -> str:
    """With a token, the user's Telegram command menu shows their new role at once."""
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        return "their command menu follows on their next message to the bot"
    from aiogram import Router

    from bot.factory import create_bot
    from bot.i18n import make_i18n
    from bot.menu import registered_commands
    from bot.services.command_menu import CommandMenus, wanted_menu
    from handlers import get_routers

    root = Router(name="commands")
    root.include_routers(*get_routers())
    if wanted_menu(user, settings.default_language)[0] == user.commands_menu:
        return "their Telegram command menu already fits"
    bot = create_bot(settings)
    try:
        menus = CommandMenus(make_i18n(settings.default_language), settings.default_language)
        if await menus.sync(bot, user, registered_commands(root)):
            return "their Telegram command menu is updated"
        return "their command menu could not be set now; it follows on their next message"
    finally:
        await bot.session.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studentbot",
        description="Atyrau University student assistant (Regulation No. 066). "
        "With no command: the bot if BOT_TOKEN is set, else the local chat.",
    )
    parser.set_defaults(func=cmd_default)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the Telegram bot (long polling; webhook if WEBHOOK_URL)")
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser(
        "chat", help="chat with the assistant in this terminal (no token needed)"
    )
    chat.add_argument(
        "--lang", choices=LANGUAGES, help="your Telegram language (default: DEFAULT_LANGUAGE)"
    )
    chat.add_argument(
        "--user", type=int, metavar="ID", help="act as this Telegram user id (default: 1)"
    )
    chat.add_argument("--name", help="your first name as the bot sees it")
    chat.add_argument(
        "--staff",
        action="store_true",
        help="show the staff chat too; a line starting with '>' is written there",
    )
    chat.set_defaults(func=cmd_chat)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations (Alembic)")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=cmd_db_upgrade)
    backup = db_sub.add_parser("backup", help="copy the SQLite database while the bot runs")
    backup.add_argument(
        "-o", "--output", default=None, help="file to write (default data/backup-<time>.db)"
    )
    backup.set_defaults(func=cmd_db_backup)

    grant = sub.add_parser("grant", help="give a Telegram user a role")
    grant.add_argument("role", choices=["student", "curator", "staff", "admin"])
    grant.add_argument("user_id", type=int, metavar="TELEGRAM_USER_ID")
    grant.set_defaults(func=cmd_grant)

    from bot.commands import COMMAND_MODULES

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _fail(message: str) -> int:
    print(f"studentbot: error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.command in {None, "chat"} else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        logging.getLogger().setLevel(
            settings.log_level.upper() if args.command not in {None, "chat"} else logging.WARNING
        )
        func: Handler = args.func
        result: Any = asyncio.run(func(args, settings))
        return int(result or 0)
    except BrokenPipeError:
        # The reader went away (`studentbot ask … | head`): nothing more to write, and no
        # database to blame. Point stdout at /dev/null so the exit's flush stays quiet too.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        return _fail(str(exc))
    except ArgumentError as exc:
        return _fail(
            f"DATABASE_URL is not a valid database URL ({exc}); "
            "e.g. sqlite+aiosqlite:///data/studentbot.db or "
            "postgresql+asyncpg://user@host/db"
        )
    except (OperationalError, DBAPIError, OSError, ConnectionError) as exc:
        settings_url = _safe_url(load_settings().database_url)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return _fail(
            f"cannot use the database at {settings_url}: {reason}. "
            "Check DATABASE_URL and that the server is running."
        )
    except KeyboardInterrupt:
        return 130
