"""The aiogram internals the bot relies on (all in bot/aiogram_compat.py) are where it expects.

An aiogram outside ``SUPPORTED`` fails here first, with the range in the message: check the
module against that release before widening the range.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiogram
import aiogram.methods
import aiogram.types
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.context_controller import BotContextController
from aiogram.client.session.base import BaseSession
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import GetUpdates, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from aiogram.utils.i18n import lazy_gettext
from pydantic import BaseModel, PrivateAttr, ValidationError

from bot import aiogram_compat
from bot.aiogram_compat import (
    SUPPORTED,
    GetRawUpdates,
    aiogram_version,
    check_aiogram_version,
    detach_fsm_middleware,
    filter_callable,
    flatten_bot_context,
    inline_sync_filters,
    inner_middlewares,
    pack_callback,
    restore_bot_context,
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


# -- the flat model_post_init (flatten_bot_context) --------------------------------------------

BOT = Bot("42:TEST")
OTHER_BOT = Bot("43:TEST")
FLAT = aiogram_compat._bot_post_init

RAW_UPDATE: dict[str, Any] = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 7, "type": "private", "first_name": "Student"},
        "from": {"id": 7, "is_bot": False, "first_name": "Student", "language_code": "en"},
        "text": "How do I get a scholarship?",
        "entities": [{"type": "bold", "offset": 0, "length": 3}],
    },
}
RAW_SENT: dict[str, Any] = {  # what Telegram answers to a sendMessage with a keyboard
    "message_id": 2,
    "date": 1_700_000_001,
    "chat": {"id": 7, "type": "private", "first_name": "Student"},
    "from": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "b"},
    "text": "An answer",
    "reply_markup": {"inline_keyboard": [[{"text": "👍", "callback_data": "a:up:1"}]]},
    "unknown_field": {"nested": 1},  # extra="allow": kept as a plain value
}


def _send() -> SendMessage:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="👍", callback_data="a:up:1"),
                InlineKeyboardButton(text="👎", callback_data="a:down:1"),
            ]
        ]
    )
    return SendMessage(chat_id=7, text="An answer", reply_markup=keyboard)


def _aiogram_models() -> list[type[BotContextController]]:
    found = []
    for module in (aiogram.types, aiogram.methods):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BotContextController):
                found.append(value)
    return found


def _privates(model: Any) -> list[tuple[str, Any]]:
    """Every model inside ``model`` (fields, lists, extras) with its private attributes."""
    out: list[tuple[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, BaseModel):
            out.append((type(value).__name__, value.__pydantic_private__))
            for field in value.__dict__.values():
                walk(field)
            for extra in (value.__pydantic_extra__ or {}).values():
                walk(extra)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(model)
    return out


@pytest.fixture
def aiogram_chain() -> Iterator[None]:
    """aiogram's own model_post_init chains during the test, the flat one again after it."""
    restore_bot_context()
    yield
    assert flatten_bot_context() > 0


def _flat_and_chained(make: Callable[[], Any]) -> tuple[Any, Any]:
    assert flatten_bot_context() > 0
    flat = make()
    restore_bot_context()
    try:
        assert Message.model_post_init is not FLAT
        chained = make()
    finally:
        assert flatten_bot_context() > 0
    return flat, chained


def test_every_aiogram_model_gets_the_flat_post_init() -> None:
    """Fails when aiogram or pydantic changed what the flat function relies on (another
    private attribute, a model_post_init of aiogram's own on a subclass, pydantic's wrapper):
    the flat function then is not installed on that class, and this says which."""
    flatten_bot_context()
    models = _aiogram_models()
    assert len(models) > 500  # every type and method
    assert [cls.__name__ for cls in models if cls.model_post_init is not FLAT] == []
    private = {cls.__name__ for cls in models if cls.__private_attributes__.keys() != {"_bot"}}
    assert private == set()
    # our callback data (handlers) are plain pydantic models, not aiogram's: left as they are
    assert not issubclass(CallbackData, BotContextController)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Update.model_validate(RAW_UPDATE, context={"bot": BOT}),
        lambda: Update.model_validate_json(json.dumps(RAW_UPDATE), context={"bot": BOT}),
        lambda: Message.model_validate(RAW_SENT, context={"bot": BOT}),
        lambda: Message.model_validate(RAW_SENT),  # no context: no bot
        _send,  # built by the handler: no bot
        lambda: Message.model_construct(message_id=3, text="x"),
        lambda: Message.model_validate(RAW_SENT, context={"bot": BOT}).model_copy(
            update={"text": "edited"}
        ),
        lambda: Message.model_validate(RAW_SENT).as_(OTHER_BOT),
    ],
    ids=["update", "update-json", "sent", "no-context", "send", "construct", "copy", "as_"],
)
def test_the_flat_post_init_makes_what_aiogram_makes(make: Callable[[], Any]) -> None:
    flat, chained = _flat_and_chained(make)
    assert _privates(flat) == _privates(chained)
    assert flat == chained  # pydantic compares the private attributes too
    assert flat.model_dump() == chained.model_dump()
    assert type(flat) is type(chained)


def test_a_validated_update_knows_its_bot_everywhere() -> None:
    flatten_bot_context()
    update = Update.model_validate(RAW_UPDATE, context={"bot": BOT})
    assert update.message is not None and update.message.from_user is not None
    assert update.bot is BOT and update.message.bot is BOT and update.message.from_user.bot is BOT
    assert {name for name, private in _privates(update) if private != {"_bot": BOT}} == set()
    assert _send().bot is None
    assert Message.model_construct(message_id=1).bot is None


def test_flat_models_stay_frozen_and_rebindable() -> None:
    flatten_bot_context()
    message = Message.model_validate(RAW_SENT, context={"bot": BOT})
    with pytest.raises(ValidationError, match="frozen"):
        message.text = "changed"  # type: ignore[misc]
    copy = message.model_copy()
    assert copy.as_(OTHER_BOT) is copy and copy.bot is OTHER_BOT
    assert message.bot is BOT  # the copy's private attributes are its own
    send = _send()
    send.text = "changed"  # methods are mutable, as before
    assert send.text == "changed" and send.bot is None


def test_subclasses_keep_their_own_private_attributes(aiogram_chain: None) -> None:
    """A model of ours with another private attribute (or its own model_post_init) keeps it,
    whether it was defined before the flat function was installed or after."""

    class Before(aiogram.types.User):
        _seen: int = PrivateAttr(default=5)

    assert flatten_bot_context() > 0
    assert Before.model_post_init is not FLAT  # does not fit: keeps pydantic's chain

    class After(aiogram.types.User):
        _seen: int = PrivateAttr(default=6)

    class OwnPostInit(aiogram.types.User):
        _calls: list[str] = PrivateAttr(default_factory=list)

        def model_post_init(self, context: Any, /) -> None:
            super().model_post_init(context)
            self._calls.append("post_init")

    class Plain(aiogram.types.User):
        pass

    raw = {"id": 1, "is_bot": False, "first_name": "A"}
    for cls, private in (
        (Before, {"_seen": 5}),
        (After, {"_seen": 6}),
        (OwnPostInit, {"_calls": ["post_init"]}),
        (Plain, {}),
    ):
        model = cls.model_validate(raw, context={"bot": BOT})
        assert model.__pydantic_private__ == {**private, "_bot": BOT}, cls
        assert model.bot is BOT
        assert cls.model_construct(**raw).__pydantic_private__ == {**private, "_bot": None}


def test_a_changed_shape_is_refused(
    aiogram_chain: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another private attribute on aiogram's base, or a model_post_init that is not the one
    checked: nothing is installed and aiogram's chains stay."""
    extra = {**BotContextController.__private_attributes__, "_other": PrivateAttr(default=1)}
    monkeypatch.setattr(BotContextController, "__private_attributes__", extra)
    assert flatten_bot_context() == 0
    assert "keeping aiogram's model_post_init chain" in caplog.text
    monkeypatch.undo()

    class Unrelated(BaseModel):
        _bot: Any = PrivateAttr()

        def model_post_init(self, context: Any, /) -> None:
            self._bot = context

    for post_init in (
        Unrelated.__dict__["model_post_init"],  # pydantic's wrapper round another function
        lambda self, context, /: None,  # no wrapper (pydantic changed how it wraps)
    ):
        monkeypatch.setattr(BotContextController, "model_post_init", post_init)
        assert flatten_bot_context() == 0
        monkeypatch.undo()
    assert Message.model_post_init is not FLAT
    message = Message.model_validate(RAW_SENT, context={"bot": BOT})
    assert message.bot is BOT  # aiogram's own chain at work


def test_the_factory_installs_the_flat_post_init(aiogram_chain: None) -> None:
    from bot.config import Settings
    from bot.factory import create_bot

    assert Message.model_post_init is not FLAT
    settings = Settings(database_url="sqlite+aiosqlite://", redis_url=None, _env_file=None)
    create_bot(settings, token="42:TEST")
    assert Message.model_post_init is FLAT and Update.model_post_init is FLAT
