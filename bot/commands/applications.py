"""``studentbot applications export --csv [--status S] [--output FILE]``: for the office.

One row per application with its reference, status, applicant data (empty once anonymised by
/forget), the consents with their text versions and the last staff comment.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings

STATUSES = ("submitted", "needs_info", "approved", "rejected")


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from bot.services.applications import ApplicationService

    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            text = await ApplicationService(settings).export_csv(session, status=args.status)
    finally:
        await engine.dispose()
    if args.output:
        # utf-8-sig: Excel opens Kazakh and Russian names correctly.
        await asyncio.to_thread(
            Path(args.output).write_text, text, encoding="utf-8-sig", newline=""
        )
        print(f"wrote {max(text.count(chr(10)) - 1, 0)} applications to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("applications", help="applications for distance/online learning")
    app_sub = parser.add_subparsers(dest="applications_command", metavar="ACTION", required=True)
    export = app_sub.add_parser("export", help="export applications for the office")
    export.add_argument("--csv", action="store_true", default=True, help="CSV (the default)")
    export.add_argument("--status", choices=STATUSES, help="only applications in this status")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(func=cmd_export)
