"""A deadline rush: many users at the same moment against the real bot, through the local Bot API.

Used by ``bench/bench_rush.py`` (60 s, 50 users, figures) and by the test suite (a short rush
that must give no error reply and lose no reply). The bot runs in this process exactly as
``studentbot run`` polls (:func:`bot.polling.run_polling_loop`), against
:class:`~devtools.fake_botapi.FakeBotAPI` over HTTP; every simulated user waits for the
bot's reply to each action (an action's reply is the first message, edit or button answer the
bot addresses to that user after it), then thinks a moment and goes on:

* ``/start``, a free-text question, ``/rules``, ``/profile``;
* the ``/apply`` wizard: the command, two button presses, ``/cancel`` (state written and read
  through the database);
* one admin creates a broadcast to everyone (``/broadcast``, the text, the audience, 🚀), and
  it is delivered while the rush goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bot.config import Settings
from devtools.fake_botapi import FakeBotAPI

TOKEN = "123456:" + "R" * 35
FIRST_USER = 60_000_000
ADMIN_ID = 59_999_999
REPLY_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendDocument",
        "sendPhoto",
        "answerCallbackQuery",
    }
)
THINK = (0.7, 2.0)  # seconds between a reply and the next action (flood control stays on)
ERROR_MARK = "went wrong"  # "Something went wrong …" (the users write in English)
FLOOD_MARK = "sending messages very fast"
QUESTIONS = (
    "Can I study law online?",
    "What documents do I need to apply for distance learning?",
    "how many credits can be taken remotely",
    "Who may study at a distance?",
    "Can I work and study in the online form?",
    "is the final attestation proctored",
)


@dataclass
class RushResult:
    users: int
    seconds: float
    actions: int = 0
    replies: list[float] = field(default_factory=list)
    lost: int = 0
    error_replies: int = 0
    locked: int = 0
    logged_errors: int = 0
    broadcasts: int = 0
    broadcast_delivered: int = 0
    throttled: int = 0
    lost_actions: list[str] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        if not self.replies:
            return float("nan")
        ordered = sorted(self.replies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.replies) if self.replies else float("nan")

    @property
    def p95(self) -> float:
        return self.quantile(0.95)

    def lines(self) -> list[str]:
        return [
            f"users {self.users}, {self.seconds:.0f} s, actions {self.actions}, "
            f"replies {len(self.replies)}",
            f"reply p50 {self.p50:.2f} s, p95 {self.p95:.2f} s, max "
            f"{max(self.replies, default=float('nan')):.2f} s",
            f"error replies {self.error_replies}, lost replies {self.lost}, "
            f'"database is locked" {self.locked}, errors logged {self.logged_errors}, '
            f"flood notices {self.throttled}",
            f"admin broadcast created {self.broadcasts}, delivered to {self.broadcast_delivered}",
        ] + ([f"lost: {', '.join(sorted(set(self.lost_actions)))}"] if self.lost else [])


class _LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.locked = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + repr(record.exc_info[1])
        if "database is locked" in text:
            self.locked += 1
        if record.levelno >= logging.ERROR:
            self.errors += 1


class RushAPI(FakeBotAPI):
    """The local Bot API, telling each simulated user's waiter what the bot sent them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: dict[int, asyncio.Queue[tuple[str, dict[str, Any]]]] = defaultdict(
            asyncio.Queue
        )
        self.callback_owner: dict[str, int] = {}

    async def _answer(self, token: str, method: str, params: dict[str, Any]) -> Any:
        result = await super()._answer(token, method, params)
        if method in REPLY_METHODS:
            if method == "answerCallbackQuery":
                user = self.callback_owner.pop(str(params.get("callback_query_id")), None)
            else:
                chat = params.get("chat_id")
                user = chat if isinstance(chat, int) else None
            if user is not None:
                self.inbox[user].put_nowait((method, params))
        return result

    def press(self, user_id: int, data: str, message_id: int | None) -> None:
        update = self.push_callback(user_id, data, message_id=message_id)
        self.callback_owner[update["callback_query"]["id"]] = user_id


def _buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    markup = params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or [] if isinstance(markup, dict) else []
    return [b for row in rows for b in row if b.get("callback_data")]


class _User:
    def __init__(self, api: RushAPI, user_id: int, result: RushResult, timeout: float) -> None:
        self.api = api
        self.id = user_id
        self.result = result
        self.timeout = timeout
        self.last_keyboard: tuple[int | None, list[dict[str, Any]]] = (None, [])

    def _drain(self) -> None:
        queue = self.api.inbox[self.id]
        while not queue.empty():
            self._seen(*queue.get_nowait())

    def _seen(self, method: str, params: dict[str, Any]) -> None:
        text = str(params.get("text") or params.get("caption") or "")
        if ERROR_MARK in text.lower():
            self.result.error_replies += 1
        if FLOOD_MARK in text:
            self.result.throttled += 1
        buttons = _buttons(params)
        if buttons:
            self.last_keyboard = (params.get("message_id"), buttons)

    async def act(self, push: Any, what: str = "") -> None:
        """Push one update and wait for the first reply; counts latency, loss and errors."""
        self._drain()  # what came late for earlier actions is not this one's reply
        started = time.monotonic()
        push()
        self.result.actions += 1
        try:
            async with asyncio.timeout(self.timeout):
                method, params = await self.api.inbox[self.id].get()
        except TimeoutError:
            self.result.lost += 1
            self.result.lost_actions.append(what or getattr(push, "what", "?"))
            return
        self.result.replies.append(time.monotonic() - started)
        self._seen(method, params)
        # Let the rest of the reply (a second message, the edit after the button answer) land.
        await self.settle()

    async def settle(self, quiet: float = 0.3) -> None:
        """Take what else the bot sends until it is quiet for ``quiet`` seconds."""
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(quiet):
                    self._seen(*await self.api.inbox[self.id].get())

    def send(self, text: str) -> Any:
        def push() -> None:
            self.api.push_message(self.id, text, first_name="Student")

        push.what = text  # type: ignore[attr-defined]
        return push

    def press_first(self, starts: str = "") -> Any:
        message_id, buttons = self.last_keyboard
        chosen = next((b for b in buttons if b.get("text", "").startswith(starts)), None)
        if chosen is None:
            return None

        def push() -> None:
            self.api.press(self.id, chosen["callback_data"], message_id)

        push.what = f"button {chosen['callback_data']}"  # type: ignore[attr-defined]
        return push


async def _student(user: _User, until: float, rng: random.Random) -> None:
    await user.act(user.send("/start"))
    await user.act(user.send("/apply"))  # everyone at the same moment: a wizard's first step
    while time.monotonic() < until:
        choice = rng.random()
        if choice < 0.3:
            await user.act(user.send(rng.choice(QUESTIONS)))
        elif choice < 0.45:
            await user.act(user.send("/rules"))
        elif choice < 0.55:
            await user.act(user.send("/start"))
        elif choice < 0.65:
            await user.act(user.send("/profile"))
        else:
            await user.act(user.send("/apply"))
            for _ in range(2):
                press = user.press_first()
                if press is None:
                    break
                await asyncio.sleep(rng.uniform(*THINK))
                await user.act(press)
            await asyncio.sleep(rng.uniform(*THINK))
            await user.act(user.send("/cancel"))
        await asyncio.sleep(rng.uniform(*THINK))


async def _admin(user: _User, until: float) -> None:
    from bot.views.audience import AudienceCallback

    await user.act(user.send("/start"))
    await asyncio.sleep(2)
    await user.act(user.send("/broadcast"))
    await user.act(user.send("Deadline: statements are accepted until Friday <b>18:00</b>."))
    await user.act(lambda: user.api.press(user.id, AudienceCallback(key="done").pack(), None))
    await user.settle(quiet=2.0)
    press = user.press_first("🚀")
    if press is not None:
        await user.act(press)
    while time.monotonic() < until:
        await asyncio.sleep(2)
        await user.act(user.send("/help"))


async def _aiogram_polling(dp: Any, bot: Any, ctx: Any, *, stop: asyncio.Event) -> None:
    async def stopper() -> None:
        await stop.wait()
        await dp.stop_polling()

    watcher = asyncio.create_task(stopper())
    try:
        await dp.start_polling(
            bot, handle_signals=False, close_bot_session=False, tasks_concurrency_limit=64
        )
    finally:
        watcher.cancel()


async def rush(
    settings: Settings,
    *,
    users: int = 50,
    seconds: float = 60,
    seed: int = 17,
    reply_timeout: float = 30,
    settle: float = 15,
    latency: float = 0.1,
) -> RushResult:
    """Run the rush against ``settings.database_url`` (migrated) and return the figures."""
    from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
    from bot.factory import create_app_context, create_bot, create_dispatcher
    from bot.runner import BackgroundWorkers

    try:
        from bot.polling import run_polling_loop
    except ImportError:  # the code before issue 17 (for a baseline run): aiogram's polling
        run_polling_loop = _aiogram_polling  # type: ignore[assignment]

    counter = _LogCounter()
    root = logging.getLogger()
    root.addHandler(counter)
    result = RushResult(users=users, seconds=seconds)
    # Telegram answers in ~0.1 s from Kazakhstan: calls made while a transaction is open hold it.
    delays = {method: latency for method in REPLY_METHODS | {"copyMessage", "sendChatAction"}}
    async with RushAPI(token=TOKEN, delays=delays) as api:
        settings = settings.model_copy(
            update={
                "telegram_api_url": api.base_url,
                "admin_ids": [ADMIN_ID],
                "quiet_hours_start": settings.quiet_hours_end,  # no quiet hours in a bench
            }
        )
        ctx = await create_app_context(settings)
        bot = create_bot(settings, token=TOKEN)
        dp = create_dispatcher(ctx)
        workers = BackgroundWorkers(ctx)
        await workers.start(bot)
        stop = asyncio.Event()
        polling = asyncio.create_task(run_polling_loop(dp, bot, ctx, stop=stop))
        try:
            rng = random.Random(seed)
            until = time.monotonic() + seconds
            ids = itertools.count(FIRST_USER)
            people = [_User(api, next(ids), result, reply_timeout) for _ in range(users)]
            admin = _User(api, ADMIN_ID, result, reply_timeout)
            await asyncio.gather(
                _admin(admin, until),
                *(_student(p, until, random.Random(rng.random())) for p in people),
            )
            # The broadcast goes on after the rush: wait (bounded) until it is delivered.
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                async with ctx.sessionmaker() as session:
                    pending = await session.scalar(
                        select(func.count())
                        .select_from(BroadcastDelivery)
                        .where(BroadcastDelivery.status.in_(("pending", "sending")))
                    )
                if not pending:
                    break
                await asyncio.sleep(0.5)
            async with ctx.sessionmaker() as session:
                result.broadcasts = int(
                    await session.scalar(select(func.count()).select_from(Broadcast)) or 0
                )
                result.broadcast_delivered = int(
                    await session.scalar(
                        select(func.count())
                        .select_from(BroadcastDelivery)
                        .where(BroadcastDelivery.status == "sent")
                    )
                    or 0
                )
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(polling, 30)
            from bot.reliability import polling_tasks

            await asyncio.gather(*polling_tasks(dp), return_exceptions=True)
            await workers.stop(5)
            await bot.session.close()
            await ctx.close()
            root.removeHandler(counter)
    result.locked = counter.locked
    result.logged_errors = counter.errors
    return result
