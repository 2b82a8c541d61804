"""The question lane: a plain question goes to its handler without trying every router first.

A free-text question in a private chat is the most common update and the last real handler in
the chain, so aiogram tries it against every router before it (about 80 filters in 18 routers,
~2.5 ms of CPU per question, issue 18). Most of those handlers cannot match a message that is
not a command and is sent in no conversation state: their filters include a ``Command`` (the
text does not start with its prefix) or a state the chat is not in. This middleware works that
out once, from the routers themselves, and at each update tries only the handlers that *could*
still match (menu buttons, the language buttons, an open helpdesk ticket, the staff chat, …),
in aiogram's order and with aiogram's own filter checks; when none does, it hands the update to
the target router's handlers directly. Whenever the lane is unsure (a command-like text, a
state, a handler before the target matched, the target did not take it) it steps aside and
aiogram's propagation runs as if the lane were not there.

The target handler is the one registered with the flag ``question_lane`` (the free-text
question handler); no flag, no lane.

Sound pruning rules (a handler is skipped only when one of its filters is certain to fail):

* ``Command``/``CommandStart`` (exact classes): fails unless the text, after leading
  whitespace (as aiogram splits it), starts with one of its prefixes; the lane declines such
  texts;
* ``StateFilter`` and ``State`` (exact classes): fail in no state unless they allow ``None``
  or ``"*"`` (or the default state);
* ``F.text == label`` (a menu button; a lazy label is rendered in every language the bot
  has): fails unless the text is one of those labels; the lane declines such texts.

A router (other than the dispatcher) with an outer message middleware before the target, or
on the way to it, disables the lane: its middleware would not run.

The filters still tried are called as aiogram calls them (``FilterObject.call``: the event and
the data it declares; a ``dict`` result joins the data) but without aiogram's copies of the
whole data per check and per filter, and a synchronous filter (inlined,
:func:`bot.aiogram_compat.inline_sync_filters`) without a coroutine: the walk cost ~0.3 ms of
CPU per question with aiogram's checks (issue 18). The target handler is called as
``TelegramEventObserver.trigger`` calls it (its inner middlewares round it, ``handler`` in the
data), once its own filters passed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import I18n

from bot.aiogram_compat import filter_callable, inner_middlewares, root_filters, text_equals

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

LANE_FLAG = "question_lane"


@dataclass(frozen=True)
class _Check:
    """One filter, called as ``FilterObject.call`` calls it, without its per-call copies."""

    call: Callable[..., Any]
    awaitable: bool
    params: tuple[str, ...] | None  # the data it declares; None: all of it (``**kwargs``)

    @classmethod
    def of(cls, flt: FilterObject) -> _Check:
        found = filter_callable(flt)
        if found is None:  # a filter aiogram runs in a worker thread: through its own call
            return cls(flt.call, True, None)
        call, awaitable = found
        return cls(call, awaitable, None if flt.varkw else tuple(sorted(flt.params)))


def _checks(filters: list[FilterObject] | None) -> tuple[_Check, ...]:
    return tuple(_Check.of(f) for f in filters or ())


async def _passes(
    checks: tuple[_Check, ...], event: TelegramObject, kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """As ``HandlerObject.check``: None when a filter fails, else the data with what the
    filters returned (``kwargs`` itself when none returned a dict; it is never changed)."""
    for check in checks:
        params = check.params
        if params is None:
            result = check.call(event, **kwargs)
        elif params:
            result = check.call(event, **{k: kwargs[k] for k in params if k in kwargs})
        else:
            result = check.call(event)
        if check.awaitable:
            result = await result
        if not result:
            return None
        if isinstance(result, dict):
            kwargs = {**kwargs, **result}
    return kwargs


@dataclass
class _Node:
    """A router on the way to the target, with what must still be tried in it."""

    router: Router
    handlers: list[HandlerObject]  # the handlers that could match, in order
    children: list[_Node] = field(default_factory=list)  # sub-routers to try, in order
    target: bool = False  # this router holds the target handler (tried after ``handlers``)
    on_path: bool = False  # the target is in this router or below it
    root_checks: tuple[_Check, ...] = ()  # the router's own filters (``observer.filter``)
    handler_checks: list[tuple[_Check, ...]] = field(default_factory=list)  # per handler


@dataclass
class Plan:
    """What the lane tries for a plain text in no state, worked out once from the routers."""

    root: _Node
    target_router: Router
    target: HandlerObject  # the flagged handler
    target_checks: tuple[_Check, ...]
    prefixes: frozenset[str]  # first characters that make a text command-like
    labels: frozenset[str]  # texts some skipped ``F.text == …`` handler would take
    pruned: int  # handlers skipped
    kept: int  # handlers still tried


class _Facts:
    """What the lane checks before skipping: the command prefixes and button labels seen."""

    def __init__(self, i18n: I18n | None) -> None:
        self.i18n = i18n
        self.prefixes: set[str] = set()
        self.labels: set[str] = set()

    def rendered(self, value: Any) -> set[str] | None:
        """Every text ``value`` can be: itself, or a lazy translation in each language."""
        if isinstance(value, str):
            return {value}
        if self.i18n is None or not hasattr(value, "_func"):  # a LazyProxy
            return None
        texts = set()
        for locale in (*self.i18n.available_locales, "\x00none"):  # none: the msgid itself
            with self.i18n.context(), self.i18n.use_locale(locale):
                text = str(value)
            texts.add(text)
        return texts


def _cannot_match(filter_object: FilterObject, facts: _Facts) -> bool:
    """True when this filter fails for a text that neither starts with a command prefix nor
    is a button label (both collected into ``facts``) sent in no state."""
    if filter_object.magic is not None:
        is_equality, value = text_equals(filter_object.magic)
        texts = facts.rendered(value) if is_equality else None
        if texts is None:
            return False
        facts.labels.update(texts)
        return True
    flt = inspect.unwrap(filter_object.callback)  # a State runs inline-wrapped (aiogram_compat)
    kind = type(flt)
    if kind in (Command, CommandStart):
        facts.prefixes.update(flt.prefix)
        return True
    if kind is StateFilter:
        return all(_state_excludes_none(state) for state in flt.states)
    if kind is State:
        return _state_excludes_none(flt)
    return False


def _state_excludes_none(state: Any) -> bool:
    if isinstance(state, State):
        return state.state not in (None, "*")
    if isinstance(state, str):
        return state != "*"
    if isinstance(state, StatesGroup) or (
        inspect.isclass(state) and issubclass(state, StatesGroup)
    ):
        return True  # a group's states all have names
    return False  # None, or something unknown: may match


def build_plan(dp: Dispatcher, i18n: I18n | None = None) -> Plan | None:
    """The lane for ``dp``'s routers, or None when there is no target or it cannot be sound.
    ``i18n``: the bot's, to render lazy button labels (without it those handlers are tried)."""
    facts = _Facts(i18n)
    counts = {"pruned": 0, "kept": 0}
    found: list[tuple[Router, HandlerObject]] = []

    def visit(router: Router) -> _Node | None:
        """The node for ``router``; the walk stops at the target (later routers are not
        needed: the target takes what reaches it)."""
        observer = router.message
        node = _Node(router, [], root_checks=_checks(root_filters(observer)))
        for handler in observer.handlers:
            if handler.flags.get(LANE_FLAG):
                node.target = node.on_path = True
                found.append((router, handler))
                return node
            if any(_cannot_match(f, facts) for f in handler.filters or ()):
                counts["pruned"] += 1
            else:
                node.handlers.append(handler)
                node.handler_checks.append(_checks(handler.filters))
                counts["kept"] += 1
        for sub in router.sub_routers:
            if sub.message.outer_middleware:
                # It runs before the router's handlers, even those the lane would skip (it may
                # answer the message itself): only aiogram's way is sure.
                log.info("question lane off: router %s has outer message middlewares", sub)
                return None
            child = visit(sub)
            if child is None:
                return None
            if child.on_path or child.handlers or child.children:
                node.children.append(child)
            if child.on_path:
                node.on_path = True
                return node
        return node

    root = visit(dp)
    if root is None or not found:
        return None
    target_router, target = found[0]
    return Plan(
        root,
        target_router,
        target,
        _checks(target.filters),
        frozenset(facts.prefixes),
        frozenset(facts.labels),
        counts["pruned"],
        counts["kept"],
    )


class QuestionLane(BaseMiddleware):
    """Dispatcher-level outer middleware on messages, innermost: see the module docstring."""

    def __init__(self) -> None:
        self.plan: Plan | None = None
        self.built = False
        self.taken = 0  # updates the lane handed to the target router
        self.declined = 0  # plain texts another handler (or none) took the usual way

    def disable(self) -> None:
        """aiogram's routing only (tests compare the two)."""
        self.plan = None
        self.built = True

    def build(self, dp: Dispatcher, i18n: I18n | None = None) -> Plan | None:
        self.plan = build_plan(dp, i18n)
        self.built = True
        if self.plan is not None:
            log.debug(
                "question lane: %d handlers skipped, %d still tried",
                self.plan.pruned,
                self.plan.kept,
            )
        return self.plan

    def applies(self, event: TelegramObject, data: dict[str, Any]) -> bool:
        """A text message in no state that is neither command-like nor a button label."""
        plan = self.plan
        if plan is None or not isinstance(event, Message) or data.get("raw_state") is not None:
            return False
        text = event.text
        if not text:
            return False
        stripped = text.lstrip()
        return bool(stripped) and stripped[0] not in plan.prefixes and text not in plan.labels

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not self.built:
            dispatcher = data.get("dispatcher")
            if isinstance(dispatcher, Dispatcher):
                i18n = data.get("i18n")
                self.build(dispatcher, i18n if isinstance(i18n, I18n) else None)
        if not self.applies(event, data):
            return await handler(event, data)
        plan = self.plan
        assert plan is not None
        kwargs = await self.route(event, data)
        if kwargs is not None:
            # As TelegramEventObserver.trigger calls the target (the router's first handler that
            # could take the text: the walk tried the ones before it).
            kwargs["handler"] = plan.target
            kwargs = await _passes(plan.target_checks, event, kwargs)
        if kwargs is None:
            # A handler before the target could take it, or the target's own filters said no
            # (say, a menu text): let aiogram try everything.
            self.declined += 1
            return await handler(event, data)
        observer = plan.target_router.message
        call = observer.outer_middleware.wrap_middlewares(
            inner_middlewares(observer), plan.target.call
        )
        try:
            response = await call(event, kwargs)
        except SkipHandler:
            response = UNHANDLED
        if response is UNHANDLED or response is REJECTED:
            # The target passed the text on: aiogram's routing decides (as before the lane).
            self.declined += 1
            return await handler(event, data)
        self.taken += 1
        return response

    async def route(self, event: TelegramObject, data: dict[str, Any]) -> dict[str, Any] | None:
        """The data the target router's handlers are called with, or None when a handler
        before them could take ``event`` (or a router on the way refuses it)."""
        assert self.plan is not None
        outcome = await self._walk(self.plan.root, event, dict(data))
        return outcome if isinstance(outcome, dict) else None

    async def _walk(self, node: _Node, event: TelegramObject, kwargs: dict[str, Any]) -> Any:
        """As aiogram's ``Router._propagate_event`` with only ``node``'s handlers: returns
        ``True`` when a handler matched, the target's data when the target was reached,
        ``False`` when nothing here matched (or the router's filters refused the event)."""
        kwargs["event_router"] = node.router
        passed = await _passes(node.root_checks, event, kwargs)
        if passed is None:
            return False
        kwargs = passed
        for handler, checks in zip(node.handlers, node.handler_checks, strict=True):
            kwargs["handler"] = handler
            if await _passes(checks, event, kwargs) is not None:
                return True
        kwargs.pop("handler", None)
        if node.target:
            return kwargs
        for child in node.children:
            outcome = await self._walk(child, event, dict(kwargs))
            if outcome is not False:
                return outcome
        return False
