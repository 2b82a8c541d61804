"""``studentbot faq export|import``: the FAQ for review outside Telegram (issue 12).

    studentbot faq export [-o FILE] [--all]   # YAML: staff-made and imported entries (and the
                                              # files' entries with --all), clause examples
    studentbot faq import FILE                # the same shape back: entries are added or
                                              # replaced by id, all or nothing; live at once

The export has the shape of ``knowledge/faq/*.yaml`` (``entries:``) plus ``clause_examples:``
(the questions staff marked "answered by clause X"), so an edited export can also be moved into
the repository as a file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings


def _service(settings: Settings, sessionmaker: Any) -> Any:
    from bot.i18n import make_i18n
    from bot.services.answers import AnswerService
    from bot.services.faq import FaqService

    answers = AnswerService(
        i18n=make_i18n(settings.default_language), cache_dir=settings.search_cache_path
    )
    return FaqService(settings, sessionmaker, answers)


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=99)


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade

    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        faq = _service(settings, sessionmaker)
        async with sessionmaker() as session:
            data = await faq.export_data(session, include_files=args.all)
    finally:
        await engine.dispose()
    text = (
        "# Atyrau University assistant: FAQ export (studentbot faq export). Edit and load back\n"
        "# with `studentbot faq import FILE`; fields as in knowledge/faq/README.md.\n"
        + dump_yaml(data)
    )
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        print(
            f"wrote {len(data['entries'])} entries and {len(data['clause_examples'])} clause "
            f"examples to {args.output}"
        )
    else:
        sys.stdout.write(text)
    return 0


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot import hotcache
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.migrate import upgrade
    from knowledge.faq import FaqDataError, read_yaml

    path = Path(args.file)
    try:
        raw = read_yaml(await asyncio.to_thread(path.read_text, encoding="utf-8"), where=path.name)
    except (OSError, UnicodeDecodeError, FaqDataError) as exc:
        print(f"studentbot: error: {path}: {exc}", file=sys.stderr)
        return 1
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        faq = _service(settings, sessionmaker)
        try:
            # the bot processes forget the FAQ version they knew (bot.hotcache)
            async with (
                hotcache.announcing(engine, settings.redis_url),
                sessionmaker() as session,
                session.begin(),
            ):
                entries, examples = await faq.import_data(session, raw, where=path.name)
        except FaqDataError as exc:
            print(f"studentbot: error: {exc} (nothing was imported)", file=sys.stderr)
            return 1
    finally:
        await engine.dispose()
    live = "in every process" if settings.redis_url else "in the bot within a minute"
    print(f"imported {entries} entries and {examples} new clause examples; live {live}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    faq = subparsers.add_parser("faq", help="the university FAQ: export and import (YAML)")
    sub = faq.add_subparsers(dest="faq_command", metavar="FAQ_COMMAND", required=True)
    exp = sub.add_parser("export", help="write the database's FAQ entries as YAML")
    exp.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    exp.add_argument("--all", action="store_true", help="also the entries of knowledge/faq/*.yaml")
    exp.set_defaults(func=cmd_export)
    imp = sub.add_parser("import", help="add or replace FAQ entries from a YAML file")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=cmd_import)
