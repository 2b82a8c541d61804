"""The server: its life cycle, the HTTP routes, the test-facing API and the ``/_fake/`` control
endpoints of a standalone server; the methods themselves are in :mod:`.methods`."""

from __future__ import annotations

import asyncio
import bisect
import collections
import copy
import dataclasses
import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

from aiohttp import web

from devtools.fake_botapi.files import FileStore
from devtools.fake_botapi.limits import SendLimiter
from devtools.fake_botapi.methods import BotMethods
from devtools.fake_botapi.protocol import (
    MAX_UPLOAD_BYTES,
    SEND_METHODS,
    BotAPIError,
    Call,
    UploadedFile,
    canonical,
    decode_value,
    now,
)
from devtools.fake_botapi.state import ChatState, Fault


class FakeBotAPI(BotMethods):
    """An in-process Telegram Bot API server on 127.0.0.1 (see the package docstring).

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
        self.limiter = SendLimiter(
            rate_limit_per_second, chat_limit=chat_limit, group_limit=group_limit, clock=clock
        )
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username

        self.calls: list[Call] = []
        self.errors: list[Call] = []
        self.webhook_url = ""
        self.commands: dict[str, Any] = {}
        self.file_store = FileStore()
        self.files: dict[str, UploadedFile] = self.file_store.files
        self.blocked_users: set[int] = set()
        self.chat_members: dict[tuple[int, int], str] = {}

        self._delays: dict[str, float] = {canonical(k): v for k, v in (delays or {}).items()}
        self._faults: dict[str, collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._raw_faults: dict[str, collections.deque[tuple[int, str]]] = collections.defaultdict(
            collections.deque
        )
        self._updates: collections.deque[dict[str, Any]] = collections.deque()
        self._update_ids = itertools.count(1)
        self._allowed_updates: frozenset[str] | None = None
        self._chats: dict[int, ChatState] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._open_callbacks: set[str] = set()
        self._poll_generations: collections.defaultdict[str, int] = collections.defaultdict(int)
        self._closing = False
        # Set (and replaced) whenever updates or calls arrive: pollers and wait_for sleep on it.
        self._change = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._actual_port: int | None = None

    @property
    def rate_limit_per_second(self) -> int | None:
        return self.limiter.per_second

    @rate_limit_per_second.setter
    def rate_limit_per_second(self, value: int | None) -> None:
        self.limiter.per_second = value

    @property
    def clock(self) -> Callable[[], float]:
        """The limiter's clock; tests may replace it with a frozen one."""
        return self.limiter.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.limiter.clock = value

    @property
    def chat_limit(self) -> tuple[int, float] | None:
        return self.limiter.chat_limit

    @chat_limit.setter
    def chat_limit(self, value: tuple[int, float] | None) -> None:
        self.limiter.chat_limit = value

    @property
    def group_limit(self) -> tuple[int, float] | None:
        return self.limiter.group_limit

    @group_limit.setter
    def group_limit(self, value: tuple[int, float] | None) -> None:
        self.limiter.group_limit = value

    @property
    def rate_limited(self) -> int:
        """429s answered so far, for any limit."""
        return self.limiter.rate_limited

    @property
    def chat_limited(self) -> int:
        """429s answered so far for a chat's own limit."""
        return self.limiter.chat_limited

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
            "date": now(),
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
                "date": now(),
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
        self._faults[canonical(method)].append(Fault(error_code, description, retry_after, times))

    def fail_next_raw(
        self,
        method: str,
        status: int = 502,
        text: str = "<html><body><h1>502 Bad Gateway</h1></body></html>",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a non-JSON page, as a proxy in
        front of the Bot API does when it fails."""
        self._raw_faults[canonical(method)].extend([(status, text)] * times)

    def set_delay(self, method: str, seconds: float | None) -> None:
        """Wait ``seconds`` before answering ``method`` (``None`` removes the delay)."""
        if seconds is None:
            self._delays.pop(canonical(method), None)
        else:
            self._delays[canonical(method)] = seconds

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
        method = canonical(method)

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
        method = canonical(method)
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
        methods = set(SEND_METHODS) | ({"editMessageText"} if include_edits else set())
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

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            key: decode_value(key, value) for key, value in request.query.items()
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
                    params[key] = decode_value(key, str(value))
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
        method = canonical(request.match_info["method"])
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
        if method in SEND_METHODS:
            self.limiter.admit(params.get("chat_id"))
        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            return await handler(token, params)
        if method in SEND_METHODS:
            return self._generic_send(token, method, params)
        return True

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self.token is not None and request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        uploaded = self.file_store.by_path(request.match_info["path"])
        if uploaded is None:
            raise web.HTTPNotFound()
        return web.Response(body=uploaded.data, content_type=uploaded.content_type)

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
                if wanted is None or c.method == canonical(wanted)
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
