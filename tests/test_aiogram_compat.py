"""The aiogram internals the bot relies on (all in bot/aiogram_compat.py) are where it expects.

An aiogram outside ``SUPPORTED`` fails here first, with the range in the message: check the
module against that release before widening the range.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aiogram
import pytest
from aiogram import Dispatcher, F, Router
from aiogram.client.session.base import BaseSession
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import GetUpdates
from aiogram.utils.i18n import lazy_gettext

from bot import aiogram_compat
from bot.aiogram_compat import (
    SUPPORTED,
    GetRawUpdates,
    aiogram_version,
    check_aiogram_version,
    detach_fsm_middleware,
    filter_callable,
    inline_sync_filters,
    inner_middlewares,
    pack_callback,
    root_filters,
    text_equals,
    update_tasks,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_aiogram_is_a_supported_version() -> None:
    low, high = SUPPORTED
    assert low <= aiogram_version() < high, (
        f"aiogram {aiogram.__version__} is outside the versions bot/aiogram_compat.py supports "
        f"({low[0]}.{low[1]} to {high[0]}.{high[1] - 1}.x): check its internals, then widen "
        "SUPPORTED"
    )
    check_aiogram_version()  # does not raise


def test_an_unsupported_version_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiogram, "__version__", "4.0.0")
    with pytest.raises(RuntimeError, match=r"aiogram 4\.0\.0 is not supported.*3\.13 to 3\.31"):
        check_aiogram_version()
    monkeypatch.setattr(aiogram, "__version__", "3.12.1")
    with pytest.raises(RuntimeError, match="not supported"):
        check_aiogram_version()


def test_the_internals_used_are_there() -> None:
    dp = Dispatcher()
    assert isinstance(update_tasks(dp), set)  # Dispatcher._handle_update_tasks (or nothing)
    assert hasattr(dp, "_handle_update_tasks")
    assert GetUpdates.__returning__ is not GetRawUpdates.__returning__
    assert callable(BaseSession.check_response)  # replayed_result parses a stored answer
    fsm = detach_fsm_middleware(dp)
    assert fsm is dp.fsm and fsm not in list(dp.update.outer_middleware)

    router = Router()
    router.message.filter(F.chat.type == "private")

    @router.message(F.text == "x")
    async def handler() -> None:
        return None

    dp.include_router(router)
    assert inline_sync_filters(dp) == 2  # the router's filter (observer._handler), the handler's
    assert all(flt.awaitable for flt in router.message.handlers[0].filters or ())
    assert inline_sync_filters(dp) == 0  # done once
    # bot.middlewares.lane calls the filters and the handler as aiogram does
    [root] = root_filters(router.message)
    assert root.magic is not None
    assert filter_callable(root) == (root.magic.resolve, False)  # inlined: no coroutine
    assert inner_middlewares(router.message) == []


def test_text_equality_filters_are_recognised() -> None:
    """bot.middlewares.lane skips ``F.text == "…"`` handlers by reading magic_filter's
    operations; anything else must not look like one."""
    label = lazy_gettext("📚 Regulation")
    assert text_equals(F.text == "x") == (True, "x")
    assert text_equals(F.text == label) == (True, label)
    for other in (
        F.text != "x",
        F.caption == "x",
        F.text.lower() == "x",
        F.text.in_({"x"}),
        F.text,
        ~(F.text == "x"),
        F.text.startswith("x"),
    ):
        assert text_equals(other) == (False, None), other


class Pressed(CallbackData, prefix="pr"):
    action: str
    q: int = 0
    c: str = ""


class Flagged(CallbackData, prefix="fl"):
    on: bool = False


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Pressed, {"action": "full", "q": 41, "c": "5.4.7"}),
        (Pressed, {"action": "up", "q": 41}),  # defaults packed as aiogram packs them
        (Pressed, {"action": "down", "q": -3, "c": "Қазақша"}),
        (Pressed, {"action": "", "q": 0}),
        (Pressed, {"action": "x", "q": "7"}),  # not an int: aiogram converts it
        (Flagged, {"on": True}),  # a bool field: aiogram packs it
    ],
)
def test_callback_data_is_packed_as_aiogram_packs_it(
    cls: type[CallbackData], values: dict[str, object]
) -> None:
    """The buttons under an answer carry the strings aiogram's factories make, so a press is
    unpacked by the same ``.filter()`` as before (handlers/questions.py)."""
    assert pack_callback(cls, **values) == cls(**values).pack()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [
        {"action": "a:b", "q": 1},  # the separator inside a value
        {"action": "x" * 70},  # over Telegram's 64 bytes
        {"q": 1},  # a required field missing
    ],
)
def test_callback_data_aiogram_refuses_is_refused_the_same_way(values: dict[str, object]) -> None:
    with pytest.raises(ValueError) as ours:
        pack_callback(Pressed, **values)
    with pytest.raises(ValueError) as aiogrammed:
        Pressed(**values).pack()  # type: ignore[arg-type]
    assert str(ours.value) == str(aiogrammed.value)


def test_no_other_module_reaches_into_aiogram_internals() -> None:
    """Private aiogram attributes (``dp._x``, ``observer._handler`` …) only in aiogram_compat."""
    fenced = Path(aiogram_compat.__file__).resolve()
    private = {
        "_handle_update_tasks",
        "_handler",
        "__returning__",
        "_operations",
        "_resolve_middlewares",
    }
    offenders = []
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.resolve() == fenced or "devtools" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                name = None
                if isinstance(node, ast.Attribute):
                    name = node.attr
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    name = node.value
                elif isinstance(node, ast.Name):
                    name = node.id
                if name in private:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not offenders, offenders
