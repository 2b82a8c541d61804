"""Everything that reaches into aiogram's internals, fenced in one module.

The rest of the bot uses aiogram's public API only; what it needs beyond that (a private
attribute, a class attribute overridden, a filter's callback swapped) is done here, against the
aiogram versions in :data:`SUPPORTED`. ``tests/test_aiogram_compat.py`` fails with a clear
message when the installed aiogram is outside that range or one of these internals moved, so an
upgrade is a deliberate step: check this module against the new release, then widen the range.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData
from aiogram.methods import GetUpdates, TelegramMethod

# The aiogram releases this module was checked against: [lowest, first unsupported).
SUPPORTED: tuple[tuple[int, int], tuple[int, int]] = ((3, 13), (3, 32))


def aiogram_version() -> tuple[int, int]:
    major, minor = aiogram.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def check_aiogram_version() -> None:
    """Raise ``RuntimeError`` naming the range when the installed aiogram is not supported."""
    low, high = SUPPORTED
    if not low <= aiogram_version() < high:
        raise RuntimeError(
            f"aiogram {aiogram.__version__} is not supported: bot/aiogram_compat.py was checked "
            f"against {low[0]}.{low[1]} to {high[0]}.{high[1] - 1}.x; check its internals "
            "against this release, then widen SUPPORTED"
        )


class GetRawUpdates(GetUpdates):
    """``getUpdates`` answered as plain JSON objects: parsing is left to the caller.

    Overrides the method's ``__returning__`` (what aiogram validates the result as)."""

    __returning__ = list[dict[str, Any]]


def replayed_result(bot: Bot, method: TelegramMethod[Any], result_json: str) -> Any:
    """A recorded call's result, parsed as aiogram parses a live answer to ``method``."""
    content = '{"ok":true,"result":' + result_json + "}"
    return bot.session.check_response(bot, method, 200, content).result


def update_tasks(dp: Dispatcher) -> set[asyncio.Task[Any]]:
    """The update tasks aiogram's own polling loop started and has not finished (private)."""
    return set(getattr(dp, "_handle_update_tasks", ()))


def detach_fsm_middleware(dp: Dispatcher) -> BaseMiddleware:
    """Take aiogram's FSM middleware out of the update chain so it can be registered again at
    a chosen place (after the update's session is opened)."""
    dp.update.outer_middleware.unregister(dp.fsm)
    return cast(BaseMiddleware, dp.fsm)


def inline_sync_filters(dp: Dispatcher) -> int:
    """Evaluate synchronous filters inline instead of in a worker thread; returns how many.

    aiogram runs every synchronous callable through ``asyncio.to_thread``, filters such as
    ``F.chat.type == "private"`` or a ``State`` included: dozens of thread hops per update,
    most of the assistant's per-update cost. Filters are predicates on the event (magic
    filters, states, small functions), so running them on the event loop is safe and much
    faster; synchronous *handlers* keep aiogram's behaviour (they may block).

    Swaps ``FilterObject.callback`` and ``awaitable``, and reads the observers' private
    ``_handler`` (the router-level filters).
    """
    count = 0
    for router in dp.chain_tail:
        for observer in router.observers.values():
            handlers = [getattr(observer, "_handler", None), *observer.handlers]
            for handler in handlers:
                for flt in getattr(handler, "filters", None) or ():
                    if flt.awaitable:
                        continue
                    flt.callback = _inline(flt.callback)
                    flt.awaitable = True
                    count += 1
    return count


def _inline(resolve: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return resolve(*args, **kwargs)

    inline.__wrapped__ = resolve  # type: ignore[attr-defined]  # the filter itself (bot.middlewares.lane)
    inline.inlined = resolve  # type: ignore[attr-defined]  # marks our wrapper (filter_callable)
    return inline


def filter_callable(flt: FilterObject) -> tuple[Callable[..., Any], bool] | None:
    """What ``flt`` runs when aiogram calls it, and whether its result is awaited: a filter
    :func:`inline_sync_filters` made awaitable is its synchronous callable (no coroutine), any
    other awaitable filter its callback. None for a synchronous filter aiogram still runs in a
    worker thread (only its own ``call`` does that)."""
    resolve = getattr(flt.callback, "inlined", None)
    if resolve is not None and flt.awaitable:
        return resolve, False
    if flt.awaitable:
        return flt.callback, True
    return None


def root_filters(observer: TelegramEventObserver) -> list[FilterObject]:
    """The filters a router sets on all its handlers of one event (``observer.filter(...)``);
    reads the observer's private ``_handler``."""
    return list(observer._handler.filters or ())


def inner_middlewares(observer: TelegramEventObserver) -> list[Any]:
    """The inner middlewares aiogram wraps round a handler of ``observer`` (its routers', from
    the dispatcher down), as ``TelegramEventObserver.trigger`` resolves them (private)."""
    return observer._resolve_middlewares()


def text_equals(magic: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``magic`` is exactly ``F.text == value`` (a string or a lazy
    translation), else ``(False, None)``. Reads magic_filter's private ``_operations``."""
    import operator

    from magic_filter.operations.comparator import ComparatorOperation
    from magic_filter.operations.getattr import GetAttributeOperation

    operations = getattr(magic, "_operations", None)
    if not isinstance(operations, tuple) or len(operations) != 2:
        return False, None
    attribute, comparison = operations
    if (
        type(attribute) is GetAttributeOperation
        and attribute.name == "text"
        and type(comparison) is ComparatorOperation
        and comparison.comparator is operator.eq
    ):
        return True, comparison.right
    return False, None


def pack_callback(cls: type[CallbackData], **values: Any) -> str:
    """``cls(**values).pack()`` without building and dumping the model (a few microseconds per
    button, issue 18): for ``str`` and ``int`` fields given exactly ``str`` and ``int`` values
    (or left at their defaults) the string is the one ``CallbackData.pack`` makes, field by
    field in declaration order. Anything else (another field type or value type, an unknown
    or missing field, a separator inside a value, more than 64 bytes) is packed by aiogram
    itself, which validates, converts or raises as it always does."""
    fields = _packing_fields(cls)
    if fields is not None and values.keys() <= fields.keys():
        parts: list[str] = [cls.__prefix__]
        for name, (kind, default) in fields.items():
            value = values.get(name, default)
            if type(value) is not kind:
                break
            parts.append(str(value))  # the str itself, or the int as aiogram writes it
        else:
            separator = cls.__separator__
            if not any(separator in part for part in parts[1:]):
                packed = separator.join(parts)
                if len(packed.encode()) <= MAX_CALLBACK_LENGTH:
                    return packed
    return cls(**values).pack()


_NO_DEFAULT = object()


@functools.cache
def _packing_fields(cls: type[CallbackData]) -> dict[str, tuple[type, Any]] | None:
    """``cls``'s fields as ``name: (str or int, default)``, or None when one is of another type."""
    fields: dict[str, tuple[type, Any]] = {}
    for name, info in cls.model_fields.items():
        if info.annotation not in (str, int) or info.default_factory is not None:
            return None
        fields[name] = (info.annotation, _NO_DEFAULT if info.is_required() else info.default)
    return fields
