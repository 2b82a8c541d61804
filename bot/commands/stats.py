"""``studentbot stats [--since DATE] [--until DATE] [--format csv|json|png] [-o FILE]``.

The same report as /stats (issue 13) for a period of local dates (both included; default: the
last 30 days up to today in ``TIMEZONE``). CSV and JSON go to stdout or ``-o FILE``; PNG charts
go to a directory (``-o DIR``, default ``stats-SINCE-UNTIL``) or, when ``-o`` ends in ``.zip``,
into one zip file; their labels are in ``DEFAULT_LANGUAGE``. Without ``--format`` the suffix
of ``-o`` decides (.csv, .json, .zip), else CSV.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.services.stats import StatsReport

FORMATS = ("csv", "json", "png")


def parse_date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD or DD.MM.YYYY)")


def output_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.output).suffix.lower() if args.output else ""
    return {".json": "json", ".zip": "png", ".csv": "csv"}.get(suffix, "csv")


async def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from bot.services.stats import DEFAULT_DAYS, Period, StatsService

    service = StatsService(settings)
    until = args.until or service.today()
    since = args.since or Period.last_days(until, DEFAULT_DAYS).since
    if since > until:
        print("studentbot: error: --since is after --until", file=sys.stderr)
        return 2
    period = Period(since, until)
    fmt = output_format(args)
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await service.report(session, period)
    finally:
        await engine.dispose()
    if report.is_empty:
        print(
            f"no data for {since}…{until}: nothing was asked, opened, applied for or sent",
            file=sys.stderr,
        )
    if fmt == "png":
        return await asyncio.to_thread(write_png, report, args.output, settings)
    from bot.services.stats_export import to_csv, to_json

    text = to_json(report) + "\n" if fmt == "json" else to_csv(report)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        print(f"{fmt.upper()} for {since}…{until} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def write_png(report: StatsReport, output: str | None, settings: Settings) -> int:
    """The charts in ``settings.default_language``: a directory of PNGs, or a zip."""
    from bot.i18n import make_i18n, use_locale
    from bot.views.stats_charts import draw_charts

    if report.is_empty:
        return 0
    with use_locale(make_i18n(settings.default_language), settings.default_language):
        charts = draw_charts(report)
    period = report.period
    target = Path(output or f"stats-{period.since}-{period.until}")
    if target.suffix.lower() == ".zip":
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
            for chart in charts:
                archive.writestr(chart.filename, chart.png)
    else:
        target.mkdir(parents=True, exist_ok=True)
        for chart in charts:
            (target / chart.filename).write_bytes(chart.png)
    print(
        f"{len(charts)} charts for {period.since}…{period.until} written to {target}",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "stats",
        help="staff analytics for a period: CSV, JSON or PNG charts",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--since", type=parse_date, metavar="DATE", help="first day (local)")
    parser.add_argument("--until", type=parse_date, metavar="DATE", help="last day (local)")
    parser.add_argument("--format", choices=FORMATS, help="csv (default), json or png")
    parser.add_argument("-o", "--output", metavar="FILE", help="file (or directory for png)")
    parser.set_defaults(func=cmd_stats)
