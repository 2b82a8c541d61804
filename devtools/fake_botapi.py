"""A local Telegram Bot API server for tests, benchmarks and manual runs.

It speaks enough of the Bot API for aiogram's ``AiohttpSession`` pointed at it with
``TelegramAPIServer.from_base(api.base_url)``: requests to ``/bot{token}/{method}`` with JSON,
urlencoded or multipart bodies (files included), answered with ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}``.

Used in-process::

    async with FakeBotAPI(token=TOKEN) as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        api.push_message(42, "/start", language_code="ru")
        [call] = await api.wait_for("sendMessage")

or standalone: ``python -m devtools.fake_botapi --port 8081`` (prints its URL). A standalone
server also accepts test-control requests under ``/_fake/`` (see :meth:`FakeBotAPI._control`).

Behaviour follows the real server where it matters to a bot: updates stay queued until a
``getUpdates`` with a higher ``offset`` confirms them, a second poller terminates the first with
409, texts over 4096 characters and callback data over 64 bytes are rejected, editing a message
without changing it is a 400, and sends to a blocked user are a 403.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import copy
import dataclasses
import itertools
import json
import math
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Self

from aiohttp import web

__all__ = ["BotAPIError", "Call", "FakeBotAPI", "UploadedFile", "main"]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# Form and query values arrive as strings; these stay strings, the rest are decoded as JSON
# when they parse (numbers, booleans, objects and arrays, as aiogram serialises them).
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "title",
        "name",
        "description",
        "short_description",
        "query",
        "emoji",
        "icon_custom_emoji_id",
        "file_id",
        "secret_token",
        "language_code",
        "ip_address",
        "action",
        "business_connection_id",
        "message_effect_id",
        "question",
        "payload",
        "first_name",
        "last_name",
        "username",
        "sticker",
        "custom_title",
        "invite_link",
    }
)

# Methods whose answer is a sent Message and which count against the rate limit.
_SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendVenue",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)

_KNOWN_METHODS = (
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "getChatAdministrators",
    "setChatMenuButton",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
    "sendDocument",
    "sendPhoto",
    "sendChatAction",
    "copyMessage",
    "forwardMessage",
    "createForumTopic",
    "closeForumTopic",
    "getChat",
    "getChatMember",
    "getFile",
    "close",
    "logOut",
    *sorted(_SEND_METHODS),
)
_CANONICAL = {name.lower(): name for name in _KNOWN_METHODS}

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: invalid request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_UPDATE_TYPES_EXCLUDED_BY_DEFAULT = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)


class BotAPIError(Exception):
    """An error answer: raised inside a method handler, sent as ``{"ok": false, ...}``."""

    def __init__(
        self, error_code: int, description: str | None = None, *, retry_after: int | None = None
    ) -> None:
        if description is None:
            description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        description = description.format(retry_after=retry_after)
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class UploadedFile:
    """A file received in a multipart request; stands in its parameter's place in ``calls``."""

    field: str
    filename: str
    content_type: str
    data: bytes = dataclasses.field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


class _CallBase(NamedTuple):
    method: str
    params: dict[str, Any]


class Call(_CallBase):
    """One request as received: unpacks as ``(method, params)``.

    After the answer, ``error_code`` is the error sent (``None`` when it succeeded) and
    ``result`` the successful result.
    """

    error_code: int | None = None
    result: Any = None
    answered: bool = False


@dataclass
class _Fault:
    error_code: int
    description: str | None
    retry_after: int | None
    times: int


@dataclass
class _ChatState:
    chat: dict[str, Any]
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


def _now() -> int:
    return int(time.time())


def _decode_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "unknown")


class FakeBotAPI:
    """An in-process Telegram Bot API server on 127.0.0.1 (see the module docstring).

    :param token: the only token accepted (others get 401); ``None`` accepts any token.
    :param rate_limit_per_second: answer 429 with ``retry_after`` when more than this many
        send calls (``sendMessage``, ``sendDocument``, ``copyMessage``, ...; not
        ``sendChatAction``) arrive within one second; counted in ``rate_limited``.
    :param chat_limit: ``(count, seconds)``: answer 429 when a private chat would get more
        than ``count`` sends within ``seconds`` (Telegram: about one a second, short bursts
        allowed); counted in ``rate_limited`` and ``chat_limited``.
    :param group_limit: the same for group chats (Telegram: 20 a minute).
    :param delays: seconds to wait before answering a method (simulates a slow server).
    :param clock: the rate limiter's clock in seconds (tests may pass a frozen one).
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
        chat_limit: tuple[int, float] | None = None,
        group_limit: tuple[int, float] | None = None,
        delays: Mapping[str, float] | None = None,
        bot_first_name: str = "Test Bot",
        bot_username: str = "test_bot",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.rate_limit_per_second = rate_limit_per_second
        self.chat_limit = chat_limit
        self.group_limit = group_limit
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.clock = clock

        self.calls: list[Call] = []
        self.errors: list[Call] = []
        self.rate_limited = 0
        self.chat_limited = 0
        self.webhook_url = ""
        self.commands: dict[str, Any] = {}
        self.files: dict[str, UploadedFile] = {}
        self.blocked_users: set[int] = set()
        self.chat_members: dict[tuple[int, int], str] = {}

        self._delays: dict[str, float] = {self._canonical(k): v for k, v in (delays or {}).items()}
        self._faults: dict[str, collections.deque[_Fault]] = collections.defaultdict(
            collections.deque
        )
        self._raw_faults: dict[str, collections.deque[tuple[int, str]]] = (
            collections.defaultdict(collections.deque)
        )
        self._updates: collections.deque[dict[str, Any]] = collections.deque()
        self._update_ids = itertools.count(1)
        self._allowed_updates: frozenset[str] | None = None
        self._chats: dict[int, _ChatState] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._open_callbacks: set[str] = set()
        self._send_times: collections.deque[float] = collections.deque()
        self._chat_send_times: dict[Any, collections.deque[float]] = {}
        self._poll_generations: dict[str, int] = collections.defaultdict(int)
        self._file_ids = itertools.count(1)
        self._closing = False
        # Set (and replaced) whenever updates or calls arrive: pollers and wait_for sleep on it.
        self._change = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._actual_port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/_fake/{action}", self._control)
        # handler_cancellation: a poller that disconnects stops waiting, as on Telegram.
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            access_log=None,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        address = self._runner.addresses[0]
        self._actual_port = int(address[1])

    async def stop(self) -> None:
        self._closing = True
        self._changed()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """The server's root, for ``TelegramAPIServer.from_base(api.base_url)``."""
        if self._actual_port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://{self.host}:{self._actual_port}"

    # ------------------------------------------------------------------ test-facing API

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a raw update for ``getUpdates``; ``update_id`` is assigned when absent.

        The update is copied as it is now: later edits of the same message do not change it.
        Explicit ``update_id`` values must increase, as Telegram's do.
        """
        queued = copy.deepcopy(dict(update))
        if "update_id" not in queued:
            queued["update_id"] = next(self._update_ids)
        else:
            if self._updates and queued["update_id"] <= self._updates[-1]["update_id"]:
                raise ValueError(f"update_id {queued['update_id']} is not above the queued ones")
            # Keep later automatic ids above an explicit one.
            self._update_ids = itertools.count(
                max(queued["update_id"] + 1, next(self._update_ids))
            )
        self._updates.append(queued)
        self._changed()
        return queued

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        language_code: str | None = "en",
        first_name: str = "Student",
        last_name: str | None = None,
        username: str | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from a user (in their private chat unless ``chat_id``).

        ``reply_to_message_id`` makes it a reply to a message of that chat (a staff member
        answering the bot's copy of a student's question, say).
        """
        user = self._remember_user(user_id, language_code, first_name, last_name, username)
        chat = self._chat(chat_id if chat_id is not None else user_id)
        message: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "date": _now(),
            "chat": chat.chat,
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if reply_to_message_id is not None:
            replied = chat.messages.get(reply_to_message_id)
            if replied is None:
                raise KeyError(f"chat {chat.chat['id']} has no message {reply_to_message_id}")
            message["reply_to_message"] = {
                key: value for key, value in replied.items() if key != "reply_to_message"
            }
        chat.messages[message["message_id"]] = message
        return self.push_update({"message": message})

    def push_callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        chat_id: int | None = None,
        language_code: str | None = "en",
        first_name: str = "Student",
    ) -> dict[str, Any]:
        """Queue a button press on a bot message (by default the last one in the chat)."""
        user = self._remember_user(user_id, language_code, first_name, None, None)
        chat = self._chat(chat_id if chat_id is not None else user_id)
        if message_id is None:
            own = [m for m in chat.messages.values() if m.get("from", {}).get("is_bot")]
            message_id = own[-1]["message_id"] if own else None
        message = chat.messages.get(message_id) if message_id is not None else None
        if message is None:
            # A message the test made up: remember it so the bot can edit or delete it.
            if message_id is None:
                message_id = chat.take_message_id()
            message = {
                "message_id": message_id,
                "date": _now(),
                "chat": chat.chat,
                "from": self._bot_user(self.token),
                "text": "...",
            }
            chat.messages[message_id] = message
            chat.next_message_id = max(chat.next_message_id, message_id + 1)
        query_id = str(secrets.randbits(63))
        self._open_callbacks.add(query_id)
        callback = {
            "id": query_id,
            "from": user,
            "chat_instance": str(chat.chat["id"]),
            "message": message,
            "data": data,
        }
        return self.push_update({"callback_query": callback})

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error."""
        self._faults[self._canonical(method)].append(
            _Fault(error_code, description, retry_after, times)
        )

    def fail_next_raw(
        self,
        method: str,
        status: int = 502,
        text: str = "<html><body><h1>502 Bad Gateway</h1></body></html>",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a non-JSON page, as a proxy in
        front of the Bot API does when it fails."""
        self._raw_faults[self._canonical(method)].extend([(status, text)] * times)

    def set_delay(self, method: str, seconds: float | None) -> None:
        """Wait ``seconds`` before answering ``method`` (``None`` removes the delay)."""
        if seconds is None:
            self._delays.pop(self._canonical(method), None)
        else:
            self._delays[self._canonical(method)] = seconds

    def block_user(self, user_id: int) -> None:
        """Sends to this user's private chat answer 403 from now on."""
        self.blocked_users.add(user_id)

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 10,  # noqa: ASYNC109 - part of the test-facing API
        since: int = 0,
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` matching ``predicate`` have arrived.

        Calls are counted from index ``since`` of :attr:`calls` (``since=len(api.calls)``
        waits for new ones only). A call matches from its arrival (``getUpdates`` counts while
        it is still polling); the predicate of a call in flight is asked again until the call
        is answered, so ``lambda c: c.answered and c.error_code is None`` waits for successes.
        Returns the first ``count`` matching calls in arrival order; raises ``TimeoutError``
        listing the methods seen when they do not come in time.
        """
        method = self._canonical(method)

        def matches(call: Call) -> bool:
            return call.method == method and (predicate is None or predicate(call))

        # Incremental, so waiting for thousands of calls stays linear: answered calls are
        # judged once, calls in flight on every change until answered.
        settled: list[tuple[int, Call]] = []
        in_flight: list[int] = []
        scanned = since
        found: list[tuple[int, Call]] = []

        def collect() -> list[tuple[int, Call]]:
            nonlocal scanned, in_flight
            end = len(self.calls)
            in_flight.extend(range(scanned, end))
            scanned = end
            provisional: list[tuple[int, Call]] = []
            still_in_flight: list[int] = []
            for index in in_flight:
                call = self.calls[index]
                if call.answered:
                    if matches(call):
                        bisect.insort(settled, (index, call), key=lambda item: item[0])
                    continue
                still_in_flight.append(index)
                if matches(call):
                    provisional.append((index, call))
            in_flight = still_in_flight
            if not provisional:
                return settled
            return sorted(settled + provisional, key=lambda item: item[0])

        try:
            async with asyncio.timeout(timeout):
                while len(found := collect()) < count:
                    await self._wait_change()
        except TimeoutError:
            seen = collections.Counter(call.method for call in self.calls[since:])
            raise TimeoutError(
                f"{count} x {method} not received within {timeout}s "
                f"(got {len(collect())}; calls seen: {dict(seen)})"
            ) from None
        return [call for _, call in found[:count]]

    def calls_of(self, method: str) -> list[Call]:
        method = self._canonical(method)
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot delivered to a chat that still exist, oldest first."""
        chat = self._chats.get(int(chat_id))
        if chat is None:
            return []
        return [m for m in chat.messages.values() if m.get("from", {}).get("is_bot")]

    def sent_texts(self, chat_id: int, *, include_edits: bool = False) -> list[str]:
        """Texts (or captions) of the messages the bot delivered to a chat, in order.

        Only successful calls count. With ``include_edits`` the texts set by
        ``editMessageText`` follow in their place in time.
        """
        methods = set(_SEND_METHODS) | ({"editMessageText"} if include_edits else set())
        texts = []
        for call in self.calls:
            if call.method not in methods or not call.answered or call.error_code is not None:
                continue
            result = call.result
            if not isinstance(result, dict) or result.get("chat", {}).get("id") != int(chat_id):
                continue
            text = call.params.get("text", call.params.get("caption"))
            if text is None:
                text = result.get("text", result.get("caption"))
            if text is not None:
                texts.append(text)
        return texts

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ------------------------------------------------------------------ HTTP plumbing

    def _changed(self) -> None:
        """Wake everything waiting for news (pollers, ``wait_for``); callable from sync code."""
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def _wait_change(self) -> None:
        await self._change.wait()

    @staticmethod
    def _canonical(method: str) -> str:
        return _CANONICAL.get(method.lower(), method)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            key: _decode_value(key, value) for key, value in request.query.items()
        }
        if request.method != "POST" or not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise BotAPIError(400, "Bad Request: request body must be a JSON object")
            params.update(body)
            return params
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            files: dict[str, UploadedFile] = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(
                        field=key,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                else:
                    params[key] = _decode_value(key, str(value))
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    attached = files.pop(value.removeprefix("attach://"), None)
                    if attached is not None:
                        params[key] = dataclasses.replace(attached, field=key)
            # Files sent directly under their parameter name (not through attach://).
            params.update(files)
            return params
        body_text = await request.text()
        if body_text:
            raise BotAPIError(400, f"Bad Request: unsupported content type {content_type}")
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = self._canonical(request.match_info["method"])
        try:
            params = await self._read_params(request)
        except BotAPIError as error:
            return web.json_response(error.payload(), status=error.error_code)
        except ValueError:
            bad = BotAPIError(400, "Bad Request: can't parse request body")
            return web.json_response(bad.payload(), status=400)
        call = Call(method, params)
        self.calls.append(call)
        self._changed()
        raw = self._raw_faults.get(method)
        if raw:
            status, text = raw.popleft()
            call.error_code = status
            call.answered = True
            self.errors.append(call)
            self._changed()
            return web.Response(text=text, status=status, content_type="text/html")
        try:
            try:
                result = await self._answer(token, method, params)
            except (TypeError, ValueError, KeyError) as exc:  # malformed parameters
                raise BotAPIError(400, f"Bad Request: {exc}") from exc
        except BotAPIError as error:
            call.error_code = error.error_code
            call.answered = True
            self.errors.append(call)
            self._changed()
            return web.json_response(error.payload(), status=error.error_code)
        body = json.dumps({"ok": True, "result": result}, ensure_ascii=False)
        # A snapshot: later edits of a stored message must not rewrite what was answered.
        call.result = json.loads(body)["result"]
        call.answered = True
        self._changed()
        return web.Response(text=body, content_type="application/json")

    async def _answer(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if self.token is not None and token != self.token:
            raise BotAPIError(401, "Unauthorized")
        delay = self._delays.get(method)
        if delay:
            await asyncio.sleep(delay)
        faults = self._faults.get(method)
        if faults:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.popleft()
            raise BotAPIError(fault.error_code, fault.description, retry_after=fault.retry_after)
        if method in _SEND_METHODS:
            chat_times = self._check_chat_limit(params.get("chat_id"))
            self._check_rate_limit()
            if chat_times is not None:  # counted only once the send is accepted
                chat_times.append(self.clock())
        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            return await handler(token, params)
        if method in _SEND_METHODS:
            return self._generic_send(token, method, params)
        return True

    def _generic_send(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """A send method without a dedicated handler: a bare message (one per album item)."""
        chat = self._target_chat(params)
        if method == "sendMediaGroup":
            media = params.get("media")
            if not isinstance(media, list) or not 2 <= len(media) <= 10:
                raise BotAPIError(400, "Bad Request: wrong number of media items")
            return [self._new_message(token, chat, params) for _ in media]
        return self._new_message(token, chat, params, **self._caption_content(params))

    def _check_rate_limit(self) -> None:
        limit = self.rate_limit_per_second
        if limit is None:
            return
        now = self.clock()
        while self._send_times and self._send_times[0] <= now - 1.0:
            self._send_times.popleft()
        if len(self._send_times) >= limit:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(self._send_times[0] + 1.0 - now))
            raise BotAPIError(429, retry_after=retry_after)
        self._send_times.append(now)

    def _check_chat_limit(self, chat_id: Any) -> collections.deque[float] | None:
        """429 when the chat's own limit is reached; else the chat's send times to append to."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if not isinstance(chat_id, int):
            return None
        limit = self.chat_limit if chat_id > 0 else self.group_limit
        if limit is None:
            return None
        count, window = limit
        now = self.clock()
        times = self._chat_send_times.setdefault(chat_id, collections.deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= count:
            self.rate_limited += 1
            self.chat_limited += 1
            retry_after = max(1, math.ceil(times[0] + window - now))
            raise BotAPIError(429, retry_after=retry_after)
        return times

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self.token is not None and request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        path = request.match_info["path"]
        for file_id, uploaded in self.files.items():
            if self._file_path(file_id, uploaded) == path:
                return web.Response(body=uploaded.data, content_type=uploaded.content_type)
        raise web.HTTPNotFound()

    async def _control(self, request: web.Request) -> web.Response:
        """Test control for a standalone server (JSON bodies).

        ``POST /_fake/message`` ``{"user_id", "text", "language_code"?, "chat_id"?}``,
        ``POST /_fake/callback`` ``{"user_id", "data", "message_id"?}``,
        ``POST /_fake/update`` (a raw update), ``POST /_fake/fail``
        ``{"method", "error_code", "description"?, "retry_after"?, "times"?}``,
        ``POST /_fake/delay`` ``{"method", "seconds"}``, ``POST /_fake/block`` ``{"user_id"}``,
        ``POST /_fake/rate_limit`` ``{"per_second"}`` (``null`` lifts it),
        ``GET /_fake/calls?method=sendMessage`` and ``GET /_fake/stats``.
        """
        action = request.match_info["action"]
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        if action == "message":
            user_id = int(body.pop("user_id"))
            result: Any = self.push_message(user_id, body.pop("text"), **body)
        elif action == "callback":
            user_id = int(body.pop("user_id"))
            result = self.push_callback(user_id, body.pop("data"), **body)
        elif action == "update":
            result = self.push_update(body)
        elif action == "fail":
            self.fail_next(**body)
            result = True
        elif action == "delay":
            self.set_delay(body["method"], body.get("seconds"))
            result = True
        elif action == "block":
            self.block_user(int(body["user_id"]))
            result = True
        elif action == "rate_limit":
            self.rate_limit_per_second = body.get("per_second")
            result = True
        elif action == "calls":
            wanted = request.query.get("method")
            result = [
                {"method": c.method, "params": c.params, "error_code": c.error_code}
                for c in self.calls
                if wanted is None or c.method == self._canonical(wanted)
            ]
            return web.json_response(result, dumps=lambda o: json.dumps(o, default=repr))
        elif action == "stats":
            result = {
                "calls": collections.Counter(c.method for c in self.calls),
                "errors": collections.Counter(c.method for c in self.errors),
                "rate_limited": self.rate_limited,
                "chat_limited": self.chat_limited,
                "pending_updates": len(self._updates),
            }
        else:
            raise web.HTTPNotFound()
        return web.json_response(result)

    # ------------------------------------------------------------------ state helpers

    @staticmethod
    def _bot_id(token: str | None) -> int:
        prefix = (token or "").split(":", 1)[0]
        return int(prefix) if prefix.isdigit() else 1

    def _bot_user(self, token: str | None) -> dict[str, Any]:
        return {
            "id": self._bot_id(token if token is not None else self.token),
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _remember_user(
        self,
        user_id: int,
        language_code: str | None,
        first_name: str,
        last_name: str | None,
        username: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        chat = self._chat(user_id)
        chat.chat.update({"first_name": first_name})
        return user

    def _chat(self, chat_id: Any) -> _ChatState:
        if isinstance(chat_id, str):
            if chat_id.lstrip("-").isdigit():
                chat_id = int(chat_id)
            else:
                raise BotAPIError(400, "Bad Request: chat not found")
        if not isinstance(chat_id, int):
            raise BotAPIError(400, "Bad Request: chat_id is empty")
        state = self._chats.get(chat_id)
        if state is None:
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": "Student"}
            else:
                chat = {
                    "id": chat_id,
                    "type": "supergroup",
                    "title": f"Group {chat_id}",
                    "is_forum": True,
                }
            state = self._chats[chat_id] = _ChatState(chat=chat)
        return state

    def _target_chat(self, params: Mapping[str, Any]) -> _ChatState:
        chat = self._chat(params.get("chat_id"))
        if chat.chat["id"] in self.blocked_users:
            raise BotAPIError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _new_message(
        self, token: str, chat: _ChatState, params: Mapping[str, Any], **content: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "date": _now(),
            "chat": chat.chat,
            "from": self._bot_user(token),
            **content,
        }
        thread_id = params.get("message_thread_id")
        if thread_id:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        self._apply_markup(message, params)
        chat.messages[message["message_id"]] = message
        return message

    @staticmethod
    def _apply_markup(message: dict[str, Any], params: Mapping[str, Any]) -> None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            message.pop("reply_markup", None)
            return
        if "inline_keyboard" not in markup:
            return  # reply keyboards are not part of the Message object
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA_BYTES:
                    raise BotAPIError(400, "Bad Request: BUTTON_DATA_INVALID")
        message["reply_markup"] = markup

    @staticmethod
    def _text_content(params: Mapping[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise BotAPIError(400, "Bad Request: message text is empty")
        text = str(text)
        if len(text) > MAX_TEXT_LENGTH:
            raise BotAPIError(400, "Bad Request: message is too long")
        content: dict[str, Any] = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return content

    @staticmethod
    def _caption_content(params: Mapping[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if caption is None:
            return {}
        if len(str(caption)) > MAX_CAPTION_LENGTH:
            raise BotAPIError(400, "Bad Request: message caption is too long")
        content: dict[str, Any] = {"caption": str(caption)}
        if params.get("caption_entities"):
            content["caption_entities"] = params["caption_entities"]
        return content

    def _store_file(self, value: Any, kind: str) -> tuple[str, str, UploadedFile | None]:
        if isinstance(value, UploadedFile):
            file_id = f"{kind}-{next(self._file_ids)}-{secrets.token_hex(4)}"
            self.files[file_id] = value
            return file_id, f"unique-{file_id}", value
        if isinstance(value, str) and value:
            uploaded = self.files.get(value)
            return value, f"unique-{value}", uploaded
        raise BotAPIError(400, f"Bad Request: there is no {kind} in the request")

    @staticmethod
    def _file_path(file_id: str, uploaded: UploadedFile) -> str:
        return f"files/{file_id}/{uploaded.filename}"

    def _find_message(self, params: Mapping[str, Any], what: str) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        message = chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if message is None:
            raise BotAPIError(400, f"Bad Request: message to {what} not found")
        return message

    # ------------------------------------------------------------------ methods

    async def _m_getMe(self, token: str, params: dict[str, Any]) -> Any:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, token: str, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        if self.webhook_url:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._poll_generations[token] += 1
        generation = self._poll_generations[token]
        self._changed()  # an older poller, if any, is terminated with 409
        while True:
            if generation != self._poll_generations[token]:
                raise BotAPIError(409)
            batch = self._take_updates(offset, limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wait_change()

    def _take_updates(self, offset: int, limit: int) -> list[dict[str, Any]]:
        if offset < 0:
            keep = -offset
            while len(self._updates) > keep:
                self._updates.popleft()
        else:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        batch = []
        for update in list(self._updates):
            if not self._is_allowed(update):
                self._updates.remove(update)
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    def _is_allowed(self, update: Mapping[str, Any]) -> bool:
        kind = _update_type(update)
        if self._allowed_updates is None:
            return kind not in _UPDATE_TYPES_EXCLUDED_BY_DEFAULT
        return kind in self._allowed_updates

    async def _m_deleteWebhook(self, token: str, params: dict[str, Any]) -> Any:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_setWebhook(self, token: str, params: dict[str, Any]) -> Any:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, token: str, params: dict[str, Any]) -> Any:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    async def _m_setMyCommands(self, token: str, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BotAPIError(400, "Bad Request: commands must be a list")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _m_deleteMyCommands(self, token: str, params: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _m_getMyCommands(self, token: str, params: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    async def _m_sendMessage(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._target_chat(params)
        return self._new_message(token, chat, params, **self._text_content(params))

    async def _m_editMessageText(self, token: str, params: dict[str, Any]) -> Any:
        content = self._text_content(params)
        if params.get("inline_message_id"):
            return True
        message = self._find_message(params, "edit")
        new_markup = params.get("reply_markup")
        if message.get("text") == content["text"] and message.get("reply_markup") == new_markup:
            raise BotAPIError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message.pop("entities", None)
        message.update(content, edit_date=_now())
        self._apply_markup(message, params)
        return message

    async def _m_editMessageReplyMarkup(self, token: str, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._find_message(params, "edit")
        if message.get("reply_markup") == params.get("reply_markup"):
            raise BotAPIError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        self._apply_markup(message, params)
        message["edit_date"] = _now()
        return message

    async def _m_answerCallbackQuery(self, token: str, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise BotAPIError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is "
                "invalid",
            )
        self._open_callbacks.discard(query_id)
        return True

    async def _m_deleteMessage(self, token: str, params: dict[str, Any]) -> Any:
        message = self._find_message(params, "delete")
        del self._chat(params.get("chat_id")).messages[message["message_id"]]
        return True

    async def _m_sendDocument(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._target_chat(params)
        file_id, unique_id, uploaded = self._store_file(params.get("document"), "document")
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique_id}
        if uploaded is not None:
            document.update(
                file_name=uploaded.filename,
                mime_type=uploaded.content_type,
                file_size=uploaded.size,
            )
        content = {"document": document, **self._caption_content(params)}
        return self._new_message(token, chat, params, **content)

    async def _m_sendPhoto(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._target_chat(params)
        file_id, unique_id, uploaded = self._store_file(params.get("photo"), "photo")
        photo: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "width": 800,
            "height": 600,
        }
        if uploaded is not None:
            photo["file_size"] = uploaded.size
        content = {"photo": [photo], **self._caption_content(params)}
        return self._new_message(token, chat, params, **content)

    async def _m_sendChatAction(self, token: str, params: dict[str, Any]) -> Any:
        self._target_chat(params)
        return True

    def _copy_content(self, source: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("text", "entities", "caption", "caption_entities", "document", "photo")
        return {key: source[key] for key in keys if key in source}

    async def _m_copyMessage(self, token: str, params: dict[str, Any]) -> Any:
        source_chat = self._chat(params.get("from_chat_id"))
        source = source_chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if source is None:
            raise BotAPIError(400, "Bad Request: message to copy not found")
        chat = self._target_chat(params)
        content = self._copy_content(source)
        if "caption" in params:
            content.update(self._caption_content(params))
        message = self._new_message(token, chat, params, **content)
        return {"message_id": message["message_id"]}

    async def _m_forwardMessage(self, token: str, params: dict[str, Any]) -> Any:
        source_chat = self._chat(params.get("from_chat_id"))
        source = source_chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if source is None:
            raise BotAPIError(400, "Bad Request: message to forward not found")
        chat = self._target_chat(params)
        origin = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        content = {**self._copy_content(source), "forward_origin": origin}
        return self._new_message(token, chat, {**params, "reply_markup": None}, **content)

    async def _m_createForumTopic(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if chat.chat["type"] != "supergroup":
            raise BotAPIError(400, "Bad Request: the chat is not a forum")
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise BotAPIError(400, "Bad Request: invalid forum topic name specified")
        thread_id = chat.take_message_id()
        return {
            "message_thread_id": thread_id,
            "name": name,
            "icon_color": int(params.get("icon_color") or 7322096),
        }

    async def _m_closeForumTopic(self, token: str, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        return True

    async def _m_getChat(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        return {
            **chat.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_getChatMember(self, token: str, params: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        user_id = int(params.get("user_id") or 0)
        if user_id == self._bot_id(token):
            user = self._bot_user(token)
        else:
            user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "U"})
        status = self.chat_members.get((chat.chat["id"], user_id), "member")
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "kicked":
            member["until_date"] = 0
        elif status == "administrator":
            rights = (
                "can_be_edited is_anonymous can_manage_chat can_delete_messages "
                "can_manage_video_chats can_restrict_members can_promote_members "
                "can_change_info can_invite_users can_post_stories can_edit_stories "
                "can_delete_stories can_send_welcome_messages can_manage_topics"
            ).split()
            member.update({right: right != "is_anonymous" for right in rights})
        return member

    async def _m_getChatAdministrators(self, token: str, params: dict[str, Any]) -> Any:
        chat_id = self._chat(params.get("chat_id")).chat["id"]
        admins = []
        for (member_chat, user_id), status in self.chat_members.items():
            if member_chat == chat_id and status in {"creator", "administrator"}:
                admins.append(
                    await self._m_getChatMember(token, {"chat_id": chat_id, "user_id": user_id})
                )
        return admins

    async def _m_getFile(self, token: str, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        uploaded = self.files.get(file_id)
        if uploaded is None:
            raise BotAPIError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"unique-{file_id}",
            "file_size": uploaded.size,
            "file_path": self._file_path(file_id, uploaded),
        }

    async def _m_close(self, token: str, params: dict[str, Any]) -> Any:
        return True

    async def _m_logOut(self, token: str, params: dict[str, Any]) -> Any:
        return True


async def _serve(args: argparse.Namespace) -> None:
    api = FakeBotAPI(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
        chat_limit=(args.chat_limit, args.chat_window) if args.chat_limit else None,
        group_limit=(args.group_limit, 60.0) if args.group_limit else None,
    )
    async with api:
        print(api.base_url, flush=True)
        print(
            f"FakeBotAPI listening on {api.base_url} "
            f"(token: {args.token or 'any'}; test control under {api.base_url}/_fake/)",
            file=sys.stderr,
            flush=True,
        )
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()
        stats = collections.Counter(call.method for call in api.calls)
        print(f"FakeBotAPI stopped; calls: {dict(stats)}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fake_botapi",
        description="Run the local Telegram Bot API test server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when more than N send calls arrive within one second",
    )
    parser.add_argument(
        "--chat-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when a private chat gets more than N sends within --chat-window s",
    )
    parser.add_argument("--chat-window", type=float, default=1.0, metavar="S")
    parser.add_argument(
        "--group-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 when a group gets more than N sends within a minute (Telegram: 20)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
