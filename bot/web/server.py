"""The web chat's HTTP side on the bot's own aiohttp server.

``GET /chat`` the page; ``GET /chat/widget.js`` the one-tag widget for the portal (an iframe of
the page); ``GET /chat/ws`` the WebSocket; ``GET /chat/api/poll`` and ``POST /chat/api/send``
the long-polling fallback; ``POST /chat/api/upload`` a file for the wizard;
``GET /chat/api/file/{token}`` a download (only for the chat it belongs to).

Security: the session is a signed (HMAC-SHA256) HttpOnly SameSite=Lax cookie holding the web
user's id; the WebSocket and every POST must come from this server's own origin or one of
``WEB_CHAT_ORIGINS``; frames are rate-limited per user (and messages pass the bot's flood
control like Telegram's), messages are capped at ``WEB_CHAT_MAX_MESSAGE`` characters, uploads
at 20 MB of PDF, JPEG or PNG recognised by their first bytes; every response carries a
Content-Security-Policy with no inline script.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import json
import logging
import time
from pathlib import Path
from string import Template
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import gettext as _
from aiohttp import BodyPartReader, WSMsgType, web

from bot.config import LANGUAGES, Settings
from bot.i18n import LANGUAGE_NAMES, language_from_telegram, use_locale
from bot.web.ids import is_web_id, new_web_user_id
from bot.web.intake import StaleButton, WebIntake
from bot.web.session import install_web_session
from bot.web.store import POLL_SECONDS, WebChatStore

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "au_webchat"
COOKIE_AGE = 365 * 24 * 3600
MAX_UPLOAD = 20 * 1024 * 1024
MAGIC = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
LONG_POLL_SECONDS = 25.0
BURST = 10.0
SERVED_TYPES = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "application/json",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)

WEBCHAT_KEY: web.AppKey[WebChat] = web.AppKey("studentbot_webchat")


def sniff(data: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of a PDF, JPEG or PNG by its first bytes; None otherwise."""
    for magic, mime, ext in MAGIC:
        if data.startswith(magic):
            return mime, ext
    return None


class Bucket:
    """Token bucket: ``rate`` per second, ``burst`` at once."""

    def __init__(self, rate: float, burst: float = BURST) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class WebChat:
    """Everything the routes need: settings, store, intake, i18n; built once per process."""

    def __init__(
        self, settings: Settings, dp: Dispatcher, bot: Bot, store: WebChatStore, i18n: Any
    ) -> None:
        self.settings = settings
        self.secret = settings.web_secret()
        self.store = store
        self.i18n = i18n
        self.session = install_web_session(bot, store)
        self.session.staff_chat_id = settings.staff_chat_id
        self.intake = WebIntake(dp, bot, store, max_in_flight=settings.max_concurrent_updates)
        self.origins = frozenset(settings.web_chat_origins)
        self._buckets: dict[int, Bucket] = {}

    # Cookie ----------------------------------------------------------------------------------
    def sign(self, user_id: int) -> str:
        mac = hmac.new(self.secret, f"webchat:{user_id}".encode(), hashlib.sha256).digest()
        return f"{user_id}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def verify(self, value: str | None) -> int | None:
        if not value or "." not in value:
            return None
        raw, _sig = value.split(".", 1)
        if not raw.isdigit() or not is_web_id(int(raw)):
            return None
        return int(raw) if hmac.compare_digest(self.sign(int(raw)), value) else None

    def set_cookie(self, response: web.StreamResponse, user_id: int) -> None:
        response.set_cookie(
            COOKIE,
            self.sign(user_id),
            max_age=COOKIE_AGE,
            path="/chat",
            httponly=True,
            samesite="Lax",
            secure=self.settings.web_chat_cookie_secure,
        )

    # Checks ----------------------------------------------------------------------------------
    def origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        own = f"{request.scheme}://{request.host}"
        forwarded = request.headers.get("X-Forwarded-Proto")
        candidates = {own} | ({f"{forwarded}://{request.host}"} if forwarded else set())
        return origin.rstrip("/") in candidates or origin.rstrip("/") in self.origins

    def allow(self, user_id: int) -> bool:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 10000:
                self._buckets.clear()
            bucket = self._buckets[user_id] = Bucket(self.settings.web_chat_rate)
        return bucket.take()

    def lang_of(self, request: web.Request) -> str:
        asked = request.query.get("lang", "")
        if asked in LANGUAGES:
            return asked
        accept = request.headers.get("Accept-Language", "")
        first = accept.split(",")[0].split(";")[0].strip() if accept else None
        return language_from_telegram(first or None, self.settings.default_language)

    def csp(self) -> str:
        ancestors = " ".join(["'self'", *sorted(self.origins)])
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'none'; base-uri 'none'; "
            f"frame-ancestors {ancestors}"
        )

    def harden(self, response: web.StreamResponse) -> web.StreamResponse:
        response.headers["Content-Security-Policy"] = self.csp()
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def user_of(self, request: web.Request) -> int | None:
        return self.verify(request.cookies.get(COOKIE))

    # Input -----------------------------------------------------------------------------------
    async def handle_input(self, user_id: int, frame: dict[str, Any]) -> dict[str, Any] | None:
        """One frame from the browser; returns an error frame or None (accepted)."""
        lang = frame.get("lang") if frame.get("lang") in LANGUAGES else None
        kind = frame.get("type")
        if not self.allow(user_id):
            return {"kind": "error", "code": "rate"}
        if kind == "message":
            text = frame.get("text")
            if not isinstance(text, str) or not text.strip():
                return {"kind": "error", "code": "empty"}
            if len(text) > self.settings.web_chat_max_message:
                return {"kind": "error", "code": "too_long"}
            self.intake.spawn(self.intake.message(user_id, lang, text=text.strip()))
            return None
        if kind == "press":
            message_id, data = frame.get("message"), frame.get("data")
            if not isinstance(message_id, int) or not isinstance(data, str) or len(data) > 64:
                return {"kind": "error", "code": "bad_frame"}
            self.intake.spawn(self._press(user_id, lang, message_id, data))
            return None
        if kind == "lang" and lang is not None:
            await self.intake.set_language(user_id, lang)
            return None
        return {"kind": "error", "code": "bad_frame"}

    async def _press(self, user_id: int, lang: str | None, message_id: int, data: str) -> None:
        try:
            await self.intake.press(user_id, lang, message_id, data)
        except StaleButton:
            self.store.publish(user_id, {"kind": "error", "code": "stale_button"})


# Routes --------------------------------------------------------------------------------------
def _chat(request: web.Request) -> WebChat:
    return request.app[WEBCHAT_KEY]


def _strings(chat: WebChat, lang: str) -> dict[str, str]:
    with use_locale(chat.i18n, lang):
        return {
            "title": _("University assistant"),
            "intro": _("Ask about distance learning, applications and the rules of study."),
            "input_label": _("Your message"),
            "placeholder": _("Type your question…"),
            "send": _("Send"),
            "attach": _("Attach a file (PDF, JPEG or PNG, up to 20 MB)"),
            "connecting": _("Connecting…"),
            "offline": _("Connection lost. Reconnecting…"),
            "typing": _("The assistant is typing…"),
            "language": _("Language"),
            "download": _("Download"),
            "you": _("You"),
            "bot": _("Assistant"),
            "staff": _("University staff"),
            "open": _("Chat with the assistant"),
            "rate": _("Too many messages at once. Wait a few seconds and send again."),
            "too_long": _("This message is too long. Please shorten it."),
            "bad_file": _("Only PDF, JPEG or PNG files up to 20 MB can be sent."),
            "stale_button": _("This button is no longer active."),
            "uploading": _("Sending the file…"),
        }


async def page(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    user_id = chat.user_of(request)
    lang = chat.lang_of(request)
    strings = _strings(chat, lang)
    template = Template((STATIC / "chat.html").read_text(encoding="utf-8"))
    options = "".join(
        f'<option value="{code}"{" selected" if code == lang else ""}>{LANGUAGE_NAMES[code]}'
        "</option>"
        for code in LANGUAGES
    )
    body = template.substitute(
        lang=lang,
        title=_html(strings["title"]),
        intro=_html(strings["intro"]),
        input_label=_html(strings["input_label"]),
        placeholder=_html(strings["placeholder"]),
        send=_html(strings["send"]),
        attach=_html(strings["attach"]),
        language=_html(strings["language"]),
        connecting=_html(strings["connecting"]),
        options=options,
        embed="1" if request.query.get("embed") == "1" else "0",
        strings=_script_json(strings),
    )
    response = web.Response(text=body, content_type="text/html", charset="utf-8")
    if user_id is None:
        user_id = new_web_user_id()
        chat.set_cookie(response, user_id)
    return chat.harden(response)


def _html(value: str) -> str:
    return html.escape(value, quote=True)


def _script_json(value: Any) -> str:
    """JSON to put inside a ``<script type="application/json">``: no ``</script>`` in it."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def widget(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    labels = {code: _strings(chat, code)["open"] for code in LANGUAGES}
    script = (
        (STATIC / "widget.js")
        .read_text(encoding="utf-8")
        .replace("/*LABELS*/{}", json.dumps(labels, ensure_ascii=False))
        .replace('/*DEFAULT*/"kk"', json.dumps(chat.settings.default_language))
    )
    response = web.Response(text=script, content_type="text/javascript", charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    types = {"chat.js": "text/javascript", "chat.css": "text/css"}
    if name not in types:
        raise web.HTTPNotFound()
    response = web.FileResponse(STATIC / name)
    response.headers["Content-Type"] = f"{types[name]}; charset=utf-8"
    return _chat(request).harden(response)


async def socket(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    if not chat.origin_ok(request):
        log.info("web chat socket from a foreign origin %r refused", request.headers.get("Origin"))
        raise web.HTTPForbidden(text="origin not allowed")
    user_id = chat.user_of(request)
    if user_id is None:
        raise web.HTTPUnauthorized(text="no session: load /chat first")
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=64 * 1024)
    await ws.prepare(request)
    queue = chat.store.subscribe(user_id)
    last_seq = 0
    sent: set[int] = set()  # seqs this socket carried: PostgreSQL may commit them out of order

    async def send(payload: dict[str, Any]) -> None:
        nonlocal last_seq
        seq = payload.get("seq")
        if isinstance(seq, int):
            if seq in sent:
                return
            if len(sent) > 5000:
                sent.clear()
            sent.add(seq)
            last_seq = max(last_seq, seq)
        await ws.send_json(payload)

    async def pump() -> None:
        while not ws.closed:
            try:
                payload = await asyncio.wait_for(queue.get(), timeout=POLL_SECONDS)
            except TimeoutError:
                # Rows another process wrote (a staff answer it handled) reach us this way;
                # the last half-minute is read again for rows committed after later ones.
                for event in await chat.store.history(user_id, after=last_seq):
                    await send(event)
                continue
            await send(payload)

    pumping: asyncio.Task[None] | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                await ws.send_json({"kind": "error", "code": "bad_frame"})
                continue
            if frame.get("type") == "hello":
                after = frame.get("after")
                events = await chat.store.history(
                    user_id, after=after if isinstance(after, int) else None
                )
                for event in events:
                    sent.add(event["seq"])
                    last_seq = max(last_seq, event["seq"])
                await ws.send_json(
                    {"kind": "history", "events": events, "resumed": isinstance(after, int)}
                )
                if pumping is None:
                    pumping = asyncio.create_task(pump())
                continue
            error = await chat.handle_input(user_id, frame)
            if error is not None:
                await ws.send_json(error)
    finally:
        chat.store.unsubscribe(user_id, queue)
        if pumping is not None:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
    return ws


async def poll(request: web.Request) -> web.StreamResponse:
    """Long polling: events after ``after`` (or the history), waiting up to 25 s for some."""
    chat = _chat(request)
    user_id = chat.user_of(request)
    if user_id is None:
        raise web.HTTPUnauthorized(text="no session: load /chat first")
    raw = request.query.get("after", "")
    after = int(raw) if raw.isdigit() else None
    queue = chat.store.subscribe(user_id)
    try:
        events = await chat.store.history(user_id, after=after)
        if after is not None:
            events = [e for e in events if e["seq"] > after]
            try:
                wait = min(float(request.query.get("wait", LONG_POLL_SECONDS)), LONG_POLL_SECONDS)
            except ValueError:
                wait = LONG_POLL_SECONDS
            deadline = time.monotonic() + max(wait, 0.0)
            while not events and time.monotonic() < deadline:
                timeout = min(POLL_SECONDS, deadline - time.monotonic())
                try:
                    payload = await asyncio.wait_for(queue.get(), timeout=max(timeout, 0.01))
                    events = [payload]
                    while not queue.empty():
                        events.append(queue.get_nowait())
                except TimeoutError:
                    events = [
                        e
                        for e in await chat.store.history(user_id, after=after)
                        if e["seq"] > after
                    ]
    finally:
        chat.store.unsubscribe(user_id, queue)
    return chat.harden(web.json_response({"events": events, "resumed": after is not None}))


async def send_frame(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    if not chat.origin_ok(request):
        raise web.HTTPForbidden(text="origin not allowed")
    user_id = chat.user_of(request)
    if user_id is None:
        raise web.HTTPUnauthorized(text="no session: load /chat first")
    if (request.content_length or 0) > 64 * 1024:
        raise web.HTTPRequestEntityTooLarge(
            max_size=64 * 1024, actual_size=request.content_length or 0
        )
    try:
        frame = await request.json()
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        return web.json_response({"kind": "error", "code": "bad_frame"}, status=400)
    error = await chat.handle_input(user_id, frame)
    return chat.harden(
        web.json_response(
            error or {"ok": True}, status=429 if error and error.get("code") == "rate" else 200
        )
    )


async def upload(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    if not chat.origin_ok(request):
        raise web.HTTPForbidden(text="origin not allowed")
    user_id = chat.user_of(request)
    if user_id is None:
        raise web.HTTPUnauthorized(text="no session: load /chat first")
    if not chat.allow(user_id):
        return web.json_response({"kind": "error", "code": "rate"}, status=429)
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and getattr(part, "name", None) != "file":
        part = await reader.next()
    if not isinstance(part, BodyPartReader):
        return web.json_response({"kind": "error", "code": "bad_file"}, status=400)
    data = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        data += chunk
        if len(data) > MAX_UPLOAD:
            return web.json_response({"kind": "error", "code": "bad_file"}, status=413)
    kind = sniff(bytes(data[:16]))
    if kind is None:
        return web.json_response({"kind": "error", "code": "bad_file"}, status=415)
    mime, ext = kind
    stem = "".join(c for c in Path(part.filename or "file").stem if c.isalnum() or c in "-_ .")
    name = (stem.strip()[:80] or "file") + ext
    lang = request.query.get("lang") if request.query.get("lang") in LANGUAGES else None
    from bot.web.intake import web_name

    await chat.store.ensure_user(user_id, first_name=web_name(user_id), language=lang)
    token = await chat.store.save_file(user_id, name=name, mime_type=mime, data=bytes(data))
    chat.intake.spawn(
        chat.intake.message(
            user_id,
            lang,
            file_token=token,
            file={"name": name, "mime_type": mime, "size": len(data)},
        )
    )
    return chat.harden(web.json_response({"ok": True}))


async def download(request: web.Request) -> web.StreamResponse:
    chat = _chat(request)
    user_id = chat.user_of(request)
    row = await chat.store.file(request.match_info["token"])
    if user_id is None or row is None or row.user_id != user_id:
        raise web.HTTPNotFound()
    mime = row.mime_type if row.mime_type in SERVED_TYPES else "application/octet-stream"
    safe = "".join(c for c in row.name if c.isalnum() or c in "-_.") or "file"
    response = web.Response(body=row.data, content_type=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return chat.harden(response)


def add_web_chat_routes(app: web.Application, chat: WebChat) -> None:
    app[WEBCHAT_KEY] = chat
    app.router.add_get("/chat", page)
    app.router.add_get("/chat/", page)
    app.router.add_get("/chat/widget.js", widget)
    app.router.add_get("/chat/static/{name}", static)
    app.router.add_get("/chat/ws", socket)
    app.router.add_get("/chat/api/poll", poll)
    app.router.add_post("/chat/api/send", send_frame)
    app.router.add_post("/chat/api/upload", upload)
    app.router.add_get("/chat/api/file/{token}", download)

    async def drain(_: web.Application) -> None:
        await asyncio.wait_for(chat.intake.wait_handled(), chat.settings.shutdown_timeout)

    app.on_shutdown.insert(0, drain)


def build_web_chat(ctx: Any, dp: Dispatcher, bot: Bot) -> WebChat:
    """The web chat of this process: wraps ``bot``'s session; needs ``WEB_CHAT_SECRET``."""
    store: WebChatStore = ctx.services.webchat
    return WebChat(ctx.settings, dp, bot, store, ctx.i18n)


def build_web_chat_app(chat: WebChat) -> web.Application:
    """A server of its own (polling mode, or ``WEB_CHAT_PORT`` apart from the webhook's)."""
    app = web.Application(client_max_size=MAX_UPLOAD + 64 * 1024)
    add_web_chat_routes(app, chat)
    return app


async def start_web_chat(
    ctx: Any, dp: Dispatcher, bot: Bot, *, webhook_app: web.Application | None = None
) -> web.AppRunner | None:
    """The runner's hook: with ``WEB_CHAT_ENABLED``, serve /chat (on the webhook's server when
    it shares its port, else on a site of its own, returned for cleanup)."""
    settings: Settings = ctx.settings
    if not settings.web_chat_enabled:
        return None
    chat = build_web_chat(ctx, dp, bot)
    port = settings.web_chat_port or settings.webhook_port
    host = settings.web_chat_host or settings.webhook_host
    if webhook_app is not None and port == settings.webhook_port:
        add_web_chat_routes(webhook_app, chat)
        log.info("web chat at /chat on the webhook's port %s", port)
        return None
    runner = web.AppRunner(build_web_chat_app(chat), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("web chat at http://%s:%s/chat", host, port)
    return runner
