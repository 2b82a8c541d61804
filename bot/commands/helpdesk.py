"""``studentbot tickets export --csv [-o FILE]``: every helpdesk ticket, one row each."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from bot.config import Settings

FIELDS = [
    "id",
    "user_id",
    "status",
    "topic",
    "language",
    "relay_mode",
    "assignee_id",
    "created_at",
    "first_response_at",
    "closed_at",
    "closed_by",
    "rating",
    "rating_comment",
    "messages",
]


async def export_rows(settings: Settings) -> list[dict[str, Any]]:
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from bot.i18n import make_i18n
    from bot.services.helpdesk import HelpdeskService

    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            i18n = make_i18n(settings.default_language)  # this command's process has no other
            service = HelpdeskService(settings, sessionmaker, i18n=i18n)
            return await service.export_rows(session)
    finally:
        await engine.dispose()


def write_rows(rows: list[dict[str, Any]], *, as_json: bool, output: str | None) -> None:
    out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if as_json:
            json.dump(rows, out, ensure_ascii=False, indent=1)
            out.write("\n")
        else:
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    rows = await export_rows(settings)
    write_rows(rows, as_json=args.json, output=args.output)
    if args.output:
        print(f"{len(rows)} tickets written to {args.output}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    tickets = subparsers.add_parser("tickets", help="helpdesk tickets")
    sub = tickets.add_subparsers(dest="tickets_command", metavar="TICKETS_COMMAND", required=True)
    export = sub.add_parser("export", help="export every ticket (CSV by default)")
    fmt = export.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row (the default)")
    fmt.add_argument("--json", action="store_true", help="a JSON array instead")
    export.add_argument("-o", "--output", help="write to this file instead of standard output")
    export.set_defaults(func=cmd_export)
