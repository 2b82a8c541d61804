"""``studentbot ask`` and ``studentbot kb export``: the bot's answers without Telegram.

    studentbot ask --lang en "Can I study law online?"          # the answer as plain text
    studentbot ask --json "Ветеринарияны онлайн оқуға бола ма?"  # one JSON object
    studentbot ask < questions.jsonl                            # {"id","lang","question"} a line
    studentbot kb export --lang ru --json                       # [{"id","title","text"}, …]

``ask`` uses the same ``AnswerService`` as the bot, built once; in the JSON-lines mode every
input line gets exactly one output line, an ``{"id", "error"}`` object when the line is bad.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.config import LANGUAGES, Settings


def _service(settings: Settings) -> Any:
    from bot.services.answers import AnswerService
    from bot.services.faq import AnsweringWithFaq  # issue 12: the FAQ files, as the bot
    from bot.texts import make_catalogs  # the answer path without importing aiogram

    return AnsweringWithFaq(
        AnswerService(
            i18n=make_catalogs(settings.default_language), cache_dir=settings.search_cache_path
        )
    )


def _result(item_id: Any, answer: Any) -> dict[str, Any]:
    out = {
        "id": item_id,
        "clauses": list(answer.clauses),
        "confidence": round(float(answer.confidence), 4),
        "answer": answer.plain,
        "kind": str(answer.kind),
    }
    for key in ("entry_key", "office_id"):  # issue 12: FAQ and office answers
        if getattr(answer, key, None):
            out[key.removesuffix("_key").removesuffix("_id")] = getattr(answer, key)
    return out


def _line_result(service: Any, line: str, default_lang: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        return {"id": None, "error": f"not a JSON object: {exc}"}
    if not isinstance(item, dict):
        return {"id": None, "error": "not a JSON object"}
    item_id = item.get("id")
    question = item.get("question")
    lang = item.get("lang") or default_lang
    if not isinstance(question, str):
        return {"id": item_id, "error": "'question' must be a string"}
    if lang not in LANGUAGES:
        return {"id": item_id, "error": f"'lang' must be one of {', '.join(LANGUAGES)}"}
    try:
        return _result(item_id, service.answer(question, lang))
    except Exception as exc:
        return {"id": item_id, "error": f"{type(exc).__name__}: {exc}"}


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    service = _service(settings)
    default_lang = args.lang or settings.default_language
    if args.question:
        answer = service.answer(" ".join(args.question), default_lang)
        if args.json:
            print(json.dumps(_result(None, answer), ensure_ascii=False))
        else:
            print(answer.plain)
        return 0
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        out.write(json.dumps(_line_result(service, line, default_lang), ensure_ascii=False))
        out.write("\n")
        out.flush()
    return 0


async def cmd_kb_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.answers import load_knowledge

    lang = args.lang or settings.default_language
    clauses = [
        {"id": c.id, "title": c.title_in(lang), "text": c.text_in(lang)}
        for c in load_knowledge().regulation
    ]
    if args.json:
        print(json.dumps(clauses, ensure_ascii=False, indent=2))
    else:
        for c in clauses:
            print(f"{c['id']}  {c['title']}\n{c['text']}\n")
    return 0


def register(subparsers: Any) -> None:
    ask = subparsers.add_parser(
        "ask",
        help="answer a question as the bot would (no QUESTION: JSON lines from stdin)",
        description='Answer one question, or JSON lines {"id", "lang", "question"} read '
        'from standard input, one JSON line out each: {"id", "clauses", "confidence", '
        '"answer", "kind"}.',
    )
    ask.add_argument(
        "--lang", choices=LANGUAGES, help="answer language (default: DEFAULT_LANGUAGE)"
    )
    ask.add_argument("--json", action="store_true", help="print JSON instead of text")
    ask.add_argument("question", nargs="*", metavar="QUESTION")
    ask.set_defaults(func=cmd_ask)

    kb = subparsers.add_parser("kb", help="the knowledge base (Regulation No. 066 clauses)")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND", required=True)
    export = kb_sub.add_parser("export", help="print every clause (id, title, text)")
    export.add_argument("--lang", choices=LANGUAGES, help="language (default: DEFAULT_LANGUAGE)")
    export.add_argument("--json", action="store_true", help="a JSON list of {id, title, text}")
    export.set_defaults(func=cmd_kb_export)
