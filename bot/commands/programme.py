"""``studentbot programme CODE_OR_NAME [--lang kk|ru|en] [--json]``.

Answers "may this programme be studied online / at a distance?" from Appendix 1 (clause 6.2) and
clauses 5.4.5–5.4.7, exactly as the bot would; ``--json`` prints the structured result instead.
Exit status: 0 when a direction was found, 1 when nothing matched.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from typing import Any

from bot.config import LANGUAGES, Settings

_TAG = re.compile(r"</?(?:b|i)>")


def as_plain_text(text: str) -> str:
    """The bot's HTML answer for a terminal: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", text))


async def cmd_programme(args: argparse.Namespace, settings: Settings) -> int:
    from bot.i18n import make_i18n, use_locale
    from bot.services.programmes import render_verdict
    from knowledge.programmes import load_catalog

    result = load_catalog().lookup(" ".join(args.query))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        lang = args.lang or settings.default_language
        with use_locale(make_i18n(settings.default_language), lang):
            print(as_plain_text(render_verdict(result, lang)))
    return 0 if result.found else 1


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "programme",
        help="may a programme (code or name) be studied online or at a distance?",
    )
    parser.add_argument(
        "query",
        nargs="+",
        metavar="CODE_OR_NAME",
        help="e.g. 6B06102, 6в061, 7M042, ветеринария, 'public health'",
    )
    parser.add_argument(
        "--lang", choices=LANGUAGES, help="answer language (default: DEFAULT_LANGUAGE)"
    )
    parser.add_argument("--json", action="store_true", help="print the structured result as JSON")
    parser.set_defaults(func=cmd_programme)
