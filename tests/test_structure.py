"""Issue 15: imports point one way — handlers → services → db/knowledge, handlers → views.

Read from the source with ``ast`` (``tests/structure.py``), every import counted, also those
inside functions and under ``if TYPE_CHECKING``:

* no import cycle among the modules of ``bot``, ``handlers`` and ``knowledge``;
* no handler module imports another handler module (shared states, callback data, keyboards
  and prompts live in ``bot/views/`` and ``bot/states.py``, shared steps in ``bot/flows/``);
  only the ``handlers`` package itself (``get_routers``) is imported from outside it;
* services import from aiogram only the ``Bot`` their workers send with, its exceptions and
  the i18n context — no keyboards, callback data or Telegram types.

What is still in the way is listed below with its reason; an entry that is no longer needed
fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast

import pytest

from tests import structure

# Cycles still there: the set of modules in the tangle → why, and who is removing it.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# (importing module, imported handler module) → why.
KNOWN_HANDLER_IMPORTS: dict[tuple[str, str], str] = {}

# Services: what they may take from aiogram.
SERVICE_AIOGRAM_ALLOWED = {
    ("aiogram", "Bot"),  # the workers send with it
    ("aiogram.exceptions", "*"),  # a blocked user, a 429: what a send can raise
    ("aiogram.utils.i18n", "*"),  # the translations of the texts they compose
}
# (service module, "aiogram.module:Name") → why it still imports it.
KNOWN_SERVICE_AIOGRAM: dict[tuple[str, str], str] = {
    ("bot.services.command_menu", "aiogram.types:BotCommandScopeChat"): (
        "its one job is Telegram's command menu; the scope is the Bot API's own argument"
    ),
    ("bot.services.helpdesk", "aiogram.types:InlineKeyboardMarkup"): (
        "ticket cards and relays are sent by the service (issue 15 item 2: the notifier layer)"
    ),
    ("bot.services.helpdesk", "aiogram.types:Message"): (
        "relays copy the student's and the staff's messages (issue 15 item 2)"
    ),
    ("bot.services.helpdesk", "aiogram.types:MessageId"): "relays: copy_message's result",
    ("bot.services.helpdesk", "aiogram.types:ReplyParameters"): (
        "relays keep replies threaded (issue 15 item 2)"
    ),
}


@pytest.fixture(scope="module")
def imports() -> list[structure.Import]:
    return structure.all_imports()


def test_no_import_cycles(imports: list[structure.Import]) -> None:
    found = {frozenset(c) for c in structure.cycles(structure.graph(imports))}
    new = [sorted(c) for c in found - KNOWN_CYCLES.keys()]
    gone = [sorted(c) for c in KNOWN_CYCLES.keys() - found]
    assert not new, f"import cycles: {new}; break them (a deferred import does not)"
    assert not gone, f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_no_handler_imports_another_handler(imports: list[structure.Import]) -> None:
    found = {(imp.source, imp.target): imp for imp in structure.handler_imports(imports)}
    new = [
        f"{imp.source}:{imp.line} imports {imp.target} {', '.join(imp.names)}"
        for key, imp in found.items()
        if key not in KNOWN_HANDLER_IMPORTS
    ]
    gone = [key for key in KNOWN_HANDLER_IMPORTS if key not in found]
    assert not new, (
        "a handler imports another handler; move what they share into bot/views, "
        f"bot/states.py, bot/flows or a service: {new}"
    )
    assert not gone, f"remove these from KNOWN_HANDLER_IMPORTS, they are gone: {gone}"


def test_only_the_handlers_package_is_imported_from_outside(
    imports: list[structure.Import],
) -> None:
    outside = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for imp in imports
        if structure.is_handler(imp.target) and not imp.source.startswith("handlers")
    ]
    assert not outside


def _service_aiogram_imports() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for module, path in structure.module_files().items():
        if not module.startswith("bot.services.") or not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            pairs: list[tuple[str, str]] = []
            if isinstance(node, ast.Import):
                pairs = [(a.name, "*") for a in node.names if a.name.split(".")[0] == "aiogram"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiogram"):
                pairs = [(node.module or "", a.name) for a in node.names]
            for source, name in pairs:
                if (source, name) in SERVICE_AIOGRAM_ALLOWED or (
                    source,
                    "*",
                ) in SERVICE_AIOGRAM_ALLOWED:
                    continue
                found.setdefault((module, f"{source}:{name}"), node.lineno)
    return found


def test_services_import_no_aiogram_types_but_bot() -> None:
    found = _service_aiogram_imports()
    new = [
        f"{m} line {line}: {what}"
        for (m, what), line in found.items()
        if (m, what) not in KNOWN_SERVICE_AIOGRAM
    ]
    gone = [key for key in KNOWN_SERVICE_AIOGRAM if key not in found]
    assert not new, (
        "services may take from aiogram only Bot, aiogram.exceptions and aiogram.utils.i18n; "
        f"keyboards and callback data belong in bot/views: {new}"
    )
    assert not gone, f"remove these from KNOWN_SERVICE_AIOGRAM, they are gone: {gone}"


def test_the_checker_sees_deferred_imports() -> None:
    """The analysis itself: an import inside a function body is an edge like any other."""
    tree = structure.module_files()
    assert "handlers" in tree and "bot.factory" in tree
    edges = structure.graph(structure.all_imports())
    assert "handlers" in edges["bot.factory"]  # `from handlers import get_routers` in a function
