"""A web chat on the test harness: the real dispatcher behind the aiohttp routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.web.server import WebChat, build_web_chat, build_web_chat_app
from tests.harness import Harness

SECRET = "test-secret-for-the-web-chat-cookie-0123456789"
WEB_SETTINGS: dict[str, Any] = {
    "web_chat_enabled": True,
    "web_chat_secret": SECRET,
    "web_chat_cookie_secure": False,
    "web_chat_origins": ["https://portal.example.kz"],
    "web_chat_rate": 100.0,  # stories type fast; the limit has its own test
}


async def web_harness(database_url: str, **settings: Any) -> tuple[Harness, WebChat]:
    harness = await Harness.create(database_url, **{**WEB_SETTINGS, **settings})
    chat = build_web_chat(harness.ctx, harness.dp, harness.bot)
    return harness, chat


async def start_client(chat: WebChat) -> TestClient[Any, Any]:
    client = TestClient(TestServer(build_web_chat_app(chat)))
    await client.start_server()
    return client


def own_origin(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/")).rstrip("/")


async def frames_until(
    ws: ClientWebSocketResponse,
    done: Callable[[dict[str, Any]], bool],
    *,
    within: float = 15,
) -> list[dict[str, Any]]:
    """Frames from the socket up to and including the first one ``done`` accepts."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            frame = await ws.receive_json()
            got.append(frame)
            if done(frame):
                return got


def bot_said(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f.get("kind") == "message" and f.get("sender") != "user" and text in (f.get("html") or "")
    )


class Browser:
    """One browser on the web chat: its cookie, its socket, what it was shown."""

    def __init__(self, client: TestClient[Any, Any], chat: WebChat) -> None:
        self.client = client
        self.chat = chat
        self.ws: ClientWebSocketResponse | None = None
        self.events: list[dict[str, Any]] = []
        self.last_seq: int | None = None
        self.lang = "ru"

    @property
    def user_id(self) -> int:
        cookie = next(c for c in self.client.session.cookie_jar if c.key == "au_webchat")
        user_id = self.chat.verify(cookie.value)
        assert user_id is not None
        return user_id

    async def open(self, lang: str = "ru") -> list[dict[str, Any]]:
        """Load the page and connect; returns the history it shows."""
        self.lang = lang
        page = await self.client.get(f"/chat?lang={lang}")
        assert page.status == 200
        origin = {"Origin": own_origin(self.client)}
        self.ws = await self.client.ws_connect("/chat/ws", headers=origin)
        await self.ws.send_json({"type": "hello", "after": self.last_seq})
        [history] = await frames_until(self.ws, lambda f: f.get("kind") == "history")
        self._seen(history["events"])
        return list(history["events"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    def _seen(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if isinstance(event.get("seq"), int):
                if (
                    self.last_seq is not None
                    and event["seq"] <= self.last_seq
                    and any(e.get("seq") == event["seq"] for e in self.events)
                ):
                    continue
                self.last_seq = max(self.last_seq or 0, event["seq"])
            self.events.append(event)

    async def _settle(self, echo: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames until the input's echo, then until everything its handling stored."""
        assert self.ws is not None
        got = await frames_until(self.ws, echo)
        if got[-1].get("kind") == "error":
            raise AssertionError(f"refused: {got[-1]}")
        await self.chat.intake.wait_handled()
        stored = await self.chat.store.history(self.user_id, after=got[-1]["seq"])
        wanted = {e["seq"] for e in stored if e["seq"] > got[-1]["seq"]}
        seen = {f.get("seq") for f in got}
        while not wanted <= seen:
            got += await frames_until(self.ws, lambda f: True)
            seen = {f.get("seq") for f in got}
        self._seen(got)
        return got

    async def say(self, text: str) -> list[dict[str, Any]]:
        assert self.ws is not None
        await self.ws.send_json({"type": "message", "text": text, "lang": self.lang})
        return await self._settle(
            lambda f: (
                (f.get("sender") == "user" and f.get("text") == text.strip())
                or f.get("kind") == "error"
            )
        )

    async def press(self, label: str, *, data: bool = False) -> list[dict[str, Any]]:
        """Press the newest inline button whose label contains ``label`` (with ``data``: whose
        callback data starts with it)."""
        assert self.ws is not None
        for event in reversed(self.events):
            for row in (event.get("keyboard") or {}).get("inline", []):
                for button in row:
                    if "data" in button and (
                        button["data"].startswith(label) if data else label in button["text"]
                    ):
                        shown = event["ref"] if event["kind"] == "edit" else event["id"]
                        await self.ws.send_json(
                            {"type": "press", "message": shown, "data": button["data"]}
                        )
                        return await self._settle(lambda f: f.get("kind") in {"press", "error"})
        raise AssertionError(f"no button {label!r} shown")

    async def upload(self, name: str, content: bytes) -> tuple[int, list[dict[str, Any]]]:
        """Attach a file as the page does; returns the HTTP status and what followed."""
        from aiohttp import FormData

        form = FormData()
        form.add_field("file", content, filename=name, content_type="application/octet-stream")
        response = await self.client.post(
            f"/chat/api/upload?lang={self.lang}",
            data=form,
            headers={"Origin": own_origin(self.client)},
        )
        if response.status != 200:
            return response.status, []
        assert self.ws is not None
        return 200, await self._settle(lambda f: f.get("sender") == "user" and "file" in f)

    def texts(self, events: list[dict[str, Any]] | None = None) -> str:
        return "\n".join(
            e.get("html") or e.get("text") or ""
            for e in (events or self.events)
            if e.get("kind") in {"message", "edit", "notice"}
        )

    def quick_replies(self) -> list[str]:
        for event in reversed(self.events):
            keyboard = event.get("keyboard") or {}
            if "reply" in keyboard:
                return [b["text"] for row in keyboard["reply"] for b in row]
            if keyboard.get("remove"):
                return []
        return []
