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
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.client.context_controller import BotContextController
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData
from aiogram.methods import GetUpdates, TelegramMethod
from pydantic._internal import _model_construction
from pydantic.fields import ModelPrivateAttr
from pydantic_core import PydanticUndefined

log = logging.getLogger(__name__)

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


# -- one flat model_post_init for aiogram's models (issue 18) -----------------------------------
#
# aiogram's ``BotContextController`` (the base of every type and method) has a private ``_bot``
# and a ``model_post_init`` setting it from the validation context. pydantic's metaclass wraps
# the inherited ``model_post_init`` once more at every subclass level (TelegramObject ->
# MutableTelegramObject -> ... -> Message), each wrapper calling ``init_private_attributes``
# first: ~19 models per answered update, each running that chain 3-4 levels deep plus
# ``self._bot = ...`` through ``BaseModel.__setattr__``. pydantic-core calls ``model_post_init``
# by name on the instance, so one flat function on each class does the same in one step.

_PYDANTIC_WRAPPER = ("wrapped_model_post_init", _model_construction.__file__)

# aiogram's model_post_init while the flat one is installed, and what each class had before
_installed_over: Callable[..., None] | None = None
_replaced: dict[type[BotContextController], Callable[..., None]] = {}


def _bot_post_init(self: BotContextController, context: Any, /) -> None:
    """What the wrapped chain leaves behind: ``__pydantic_private__ == {"_bot": context's bot}``.

    Installed only on classes whose one private attribute is ``_bot`` (no default), where the
    chain's ``init_private_attributes`` makes ``{}`` and aiogram's ``model_post_init`` adds
    ``_bot``. A subclass defined later inherits this function inside pydantic's wrapper (or calls
    it through ``super()``) after ``init_private_attributes`` filled its own private attributes:
    those are kept, only ``_bot`` is set."""
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:
        private["_bot"] = bot


def _aiogram_post_init() -> Callable[..., None] | None:
    """aiogram's own ``BotContextController.model_post_init`` (inside pydantic's wrapper), or
    None when either moved: the private attributes are not just ``_bot`` without a default, the
    class attribute is not pydantic's wrapper, or aiogram's function does more than read the
    context's ``"bot"`` into ``self._bot``."""
    private = BotContextController.__private_attributes__
    if private.keys() != {"_bot"}:
        return None
    attr = private["_bot"]
    if (
        type(attr) is not ModelPrivateAttr
        or attr.default is not PydanticUndefined
        or attr.default_factory is not None
    ):
        return None
    wrapper = BotContextController.__dict__.get("model_post_init")
    if wrapper is _bot_post_init:  # installed already: the original is remembered
        return _installed_over
    if not _is_pydantic_wrapper(wrapper):
        return None
    original = _wrapped(wrapper)
    code = getattr(original, "__code__", None)
    if (
        code is None
        or code.co_filename != sys.modules[BotContextController.__module__].__file__
        or code.co_names != ("get", "_bot")
        or "bot" not in code.co_consts
        or _is_pydantic_wrapper(original)
    ):
        return None
    return cast(Callable[..., None], original)


def _is_pydantic_wrapper(function: Any) -> bool:
    """``function`` is pydantic's ``wrapped_model_post_init``: ``init_private_attributes``, then
    the ``model_post_init`` it wraps, nothing else."""
    code = getattr(function, "__code__", None)
    return (
        code is not None
        and (code.co_name, code.co_filename) == _PYDANTIC_WRAPPER
        and code.co_names == ("init_private_attributes",)
        and code.co_freevars == ("original_model_post_init",)
    )


def _wrapped(wrapper: Any) -> Any:
    """The function a pydantic wrapper calls (its closure's, not just ``__wrapped__``)."""
    return wrapper.__closure__[0].cell_contents


def _chain_ends_in(function: Any, original: Callable[..., None]) -> bool:
    """``function`` is pydantic's wrappers only, down to ``original`` (no model_post_init of a
    subclass's own in between)."""
    while _is_pydantic_wrapper(function):
        function = _wrapped(function)
    return function is original


def _controllers() -> Iterator[type[BotContextController]]:
    seen: set[type] = set()
    stack: list[type[BotContextController]] = [BotContextController]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        stack.extend(cls.__subclasses__())


def flattenable(cls: type[BotContextController], original: Callable[..., None]) -> bool:
    """``cls`` may take :func:`_bot_post_init`: its private attributes are exactly aiogram's
    ``_bot`` and its ``model_post_init`` is pydantic's wrapping of aiogram's, nothing else."""
    base = BotContextController.__private_attributes__["_bot"]
    private = cls.__private_attributes__
    if private.keys() != {"_bot"} or private["_bot"] is not base:
        return False
    if getattr(cls, "__pydantic_post_init__", None) != "model_post_init":
        return False
    current = cls.__dict__.get("model_post_init")  # pydantic gives each subclass its wrapper
    return current is _bot_post_init or _chain_ends_in(current, original)


def flatten_bot_context() -> int:
    """Give every aiogram model class (types, methods, and any other ``BotContextController``
    subclass defined so far) the flat :func:`_bot_post_init`; returns how many classes got it.

    Refuses (returns 0, logs why, aiogram's behaviour stays) when aiogram's or pydantic's shape
    is not the one checked (see :func:`_aiogram_post_init`). A class that does not fit (another
    private attribute, a ``model_post_init`` of its own) keeps its chain. Idempotent."""
    global _installed_over
    original = _aiogram_post_init()
    if original is None:
        log.warning(
            "aiogram's BotContextController or pydantic's model_post_init wrapping changed: "
            "keeping aiogram's model_post_init chain (check bot/aiogram_compat.py)"
        )
        return 0
    fitting = [cls for cls in _controllers() if flattenable(cls, original)]
    for cls in fitting:
        if cls.__dict__.get("model_post_init") is not _bot_post_init:
            _replaced[cls] = cls.__dict__["model_post_init"]
            cls.model_post_init = _bot_post_init  # type: ignore[method-assign,assignment]
    _installed_over = original
    return len(fitting)


def restore_bot_context() -> None:
    """aiogram's own ``model_post_init`` chains back on every class (the tests compare both)."""
    global _installed_over
    for cls, post_init in _replaced.items():
        cls.model_post_init = post_init  # type: ignore[method-assign]
    _replaced.clear()
    _installed_over = None
