"""``studentbot calendar import FILE`` (CSV or YAML) and ``studentbot calendar list``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Settings


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from bot.services.broadcast import BroadcastService
    from bot.services.calendar import CalendarImportError, load_calendar_file
    from bot.services.reminders import ReminderService

    path = Path(args.file)
    try:
        specs = load_calendar_file(path)
    except (OSError, CalendarImportError, UnicodeDecodeError) as exc:
        print(f"studentbot: error: {path}: {exc}")
        return 1
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        reminders = ReminderService(
            settings, sessionmaker, BroadcastService(settings, sessionmaker)
        )
        async with sessionmaker() as session, session.begin():
            events = await reminders.add_and_plan(session, specs)
    finally:
        await engine.dispose()
    print(f"imported {len(events)} events, {len(specs) - len(events)} already present")
    return 0


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.models.reminders import CalendarEvent, ReminderJob
    from bot.services.calendar import content_deadline

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            events = list(
                await session.scalars(select(CalendarEvent).order_by(CalendarEvent.starts_on))
            )
            for e in events:
                extra = ""
                if e.kind == "period":
                    extra = f" (content on the portal by {content_deadline(e.starts_on)}, 6.9.2)"
                print(
                    f"#{e.id} {e.starts_on}..{e.ends_on or e.starts_on} {e.kind} "
                    f"[{e.audience}{':' + e.audience_value if e.audience_value else ''}] "
                    f"{e.title_en}{extra}"
                )
                jobs = await session.scalars(
                    select(ReminderJob)
                    .where(ReminderJob.event_id == e.id)
                    .order_by(ReminderJob.due_at)
                )
                for j in jobs:
                    local = j.due_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
                    print(f"    {j.stage:<22} {local} {j.status}")
    finally:
        await engine.dispose()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cal = subparsers.add_parser("calendar", help="academic calendar and reminders")
    sub = cal.add_subparsers(dest="calendar_command", metavar="CALENDAR_COMMAND", required=True)
    imp = sub.add_parser("import", help="add events from a CSV or YAML file and plan reminders")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=cmd_import)
    lst = sub.add_parser("list", help="events, derived deadlines and reminder jobs")
    lst.set_defaults(func=cmd_list)
