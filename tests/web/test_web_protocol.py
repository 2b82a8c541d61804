"""The web chat's protocol through aiohttp's test client: a browser user meets the same
assistant as in Telegram — cited answers, buttons, the distance-learning wizard with a file
upload and the statement to download, a helpdesk ticket answered by staff in Telegram, and the
history after a reload — with the cookie, origin, size and rate rules enforced."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.methods import CreateForumTopic, SendDocument, SendMessage
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.db.models import User
from bot.db.models.web import WebFile, WebMessage
from bot.web.ids import WEB_ID_MIN, is_web_id
from bot.web.server import WebChat
from tests.harness import STAFF, STAFF_CHAT_ID, Harness, TgUser
from tests.test_helpdesk import make_staff, tickets
from tests.web.support import Browser, own_origin, start_client, web_harness

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
async def web(
    database_url: str,
) -> AsyncIterator[tuple[Harness, WebChat, TestClient[Any, Any]]]:
    harness, chat = await web_harness(database_url)
    client = await start_client(chat)
    try:
        yield harness, chat, client
    finally:
        await client.close()
        await harness.close()


async def browser(web: tuple[Harness, WebChat, TestClient[Any, Any]], lang: str = "ru") -> Browser:
    _, chat, client = web
    b = Browser(client, chat)
    await b.open(lang)
    return b


# --- the page and the session ---------------------------------------------------------------


async def test_page_sets_a_signed_httponly_samesite_cookie_and_a_strict_csp(web: Any) -> None:
    _, chat, client = web
    response = await client.get("/chat?lang=en")
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/chat" in cookie
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'self' https://portal.example.kz" in csp
    page = await response.text()
    assert '<html lang="en">' in page and 'aria-live="polite"' in page
    assert '<label for="text"' in page and "Type your question" in page
    value = response.cookies["au_webchat"].value
    user_id = chat.verify(value)
    assert user_id is not None and is_web_id(user_id) and user_id >= WEB_ID_MIN


async def test_page_language_follows_the_browser_when_not_asked(web: Any) -> None:
    _, _, client = web
    page = await (await client.get("/chat", headers={"Accept-Language": "kk-KZ,ru;q=0.8"})).text()
    assert '<html lang="kk">' in page


@pytest.mark.parametrize(
    "cookie",
    ["", "garbage", "4503599627370497.AAAA", "1001.{sig}"],
    ids=["none", "garbage", "forged-signature", "telegram-id"],
)
async def test_the_socket_needs_a_cookie_this_server_signed_for_a_web_id(
    web: Any, cookie: str
) -> None:
    _, chat, client = web
    value = cookie.replace("{sig}", chat.sign(1001).split(".", 1)[1])
    client.session.cookie_jar.clear()
    if value:
        client.session.cookie_jar.update_cookies({"au_webchat": value})
    response = await client.get(
        "/chat/ws",
        headers={
            "Origin": own_origin(client),
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 401


@pytest.mark.parametrize("origin", ["https://evil.example.com", None])
async def test_the_socket_and_posts_refuse_a_foreign_or_missing_origin(
    web: Any, origin: str | None
) -> None:
    _, _, client = web
    await client.get("/chat")
    headers = {"Origin": origin} if origin else {}
    ws = await client.get(
        "/chat/ws",
        headers={
            **headers,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert ws.status == 403
    post = await client.post(
        "/chat/api/send", json={"type": "message", "text": "hi"}, headers=headers
    )
    assert post.status == 403


async def test_the_portal_named_in_web_chat_origins_may_connect(web: Any) -> None:
    _, _, client = web
    await client.get("/chat")
    ws = await client.ws_connect("/chat/ws", headers={"Origin": "https://portal.example.kz"})
    await ws.close()


# --- one assistant, two channels ------------------------------------------------------------


async def test_a_question_in_each_language_is_answered_with_its_clause(web: Any) -> None:
    questions = {
        "ru": "Как подать заявление на дистанционное обучение?",
        "en": "How do I transfer to distance learning?",
        "kk": "Қашықтықтан оқуға қалай ауысамын?",
    }
    for lang, question in questions.items():
        _, chat, client = web
        client.session.cookie_jar.clear()
        b = Browser(client, chat)
        await b.open(lang)
        await b.press(lang, data=False) if False else None
        await b.say("/start")
        await b.press(f"lang:{lang}", data=True)
        answer = b.texts(await b.say(question))
        assert re.search(r"\b5\.\d+\.\d+", answer), answer  # the cited clause
        await b.close()


async def test_the_web_user_is_a_user_with_channel_web(web: Any) -> None:
    harness, _, _ = web
    b = await browser(web)
    await b.say("/start")
    async with harness.ctx.sessionmaker() as session:
        user = await session.get(User, b.user_id)
    assert user is not None and user.channel == "web" and is_web_id(user.id)


async def test_buttons_are_pressed_and_a_forged_press_is_refused(web: Any) -> None:
    b = await browser(web)
    await b.say("/start")
    shown = await b.press("English")
    assert "English" in b.texts(shown) or "language" in b.texts(shown).lower()
    assert b.ws is not None
    first = next(e for e in b.events if e.get("keyboard", {}).get("inline"))
    await b.ws.send_json({"type": "press", "message": first["id"], "data": "forget:1"})
    [error] = [f for f in await _frames(b) if f.get("kind") == "error"]
    assert error["code"] == "stale_button"


async def _frames(b: Browser) -> list[dict[str, Any]]:
    from tests.web.support import frames_until

    assert b.ws is not None
    return await frames_until(b.ws, lambda f: f.get("kind") == "error")


async def test_reply_keyboards_become_quick_replies(web: Any) -> None:
    b = await browser(web, "en")
    await b.say("/start")
    await b.press("lang:en", data=True)
    assert b.quick_replies(), "the main menu is offered as quick replies"


async def test_a_reload_shows_the_history_and_a_reconnect_only_what_followed(web: Any) -> None:
    _, chat, client = web
    b = await browser(web, "en")
    await b.say("/start")
    await b.press("lang:en", data=True)
    await b.say("How do I transfer to distance learning?")
    seen = b.last_seq
    await b.close()
    # Reconnect saying the last seq seen: nothing new, nothing repeated.
    assert b.ws is None
    resumed = await b.open("en")
    assert [e for e in resumed if e["seq"] > (seen or 0)] == []
    # A reload (no seq): the conversation is there, questions and answers in order.
    fresh = Browser(client, chat)
    history = await fresh.open("en")
    texts = [e.get("text") or e.get("html") for e in history]
    assert texts[0] == "/start" and "How do I transfer to distance learning?" in texts
    assert "066" in (texts[-1] or "")


async def test_long_polling_gets_the_same_events(web: Any) -> None:
    _, chat, client = web
    await client.get("/chat?lang=en")
    origin = {"Origin": own_origin(client)}
    first = await (await client.get("/chat/api/poll")).json()
    assert first["events"] == []
    sent = await client.post(
        "/chat/api/send", json={"type": "message", "text": "/start", "lang": "en"}, headers=origin
    )
    assert (await sent.json()) == {"ok": True}
    await chat.intake.wait_handled()
    got = await (await client.get("/chat/api/poll?after=0&wait=1")).json()
    assert [e["sender"] for e in got["events"]][:2] == ["user", "bot"]
    last = got["events"][-1]["seq"]
    empty = await (await client.get(f"/chat/api/poll?after={last}&wait=0.2")).json()
    assert empty["events"] == []


# --- helpdesk -------------------------------------------------------------------------------


async def test_a_web_ticket_opens_a_staff_topic_and_the_staff_answer_reaches_the_browser(
    web: Any,
) -> None:
    harness, chat, client = web
    await make_staff(harness)
    b = await browser(web, "en")
    await b.say("/start")
    await b.press("lang:en", data=True)
    harness.session.clear()
    await b.say("/human")
    await b.press("Technical")
    await b.say("My LMS password does not work")
    topics = harness.session.of(CreateForumTopic)
    assert len(topics) == 1 and topics[0].chat_id == STAFF_CHAT_ID
    to_staff = [m.text for m in harness.session.of(SendMessage) if m.chat_id == STAFF_CHAT_ID]
    assert any("My LMS password does not work" in t for t in to_staff)
    card = next(t for t in to_staff if "#1" in t)
    assert "tg://user" not in card and ("(web chat)" in card or "(веб-чат)" in card), card
    [ticket] = await tickets(harness)
    # Staff answer in Telegram while the browser is open …
    await harness.send(
        "Try resetting it at lms.atyrau.edu.kz",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        thread_id=ticket.thread_id,
    )
    from tests.web.support import frames_until

    assert b.ws is not None
    [*_, answer] = await frames_until(b.ws, lambda f: f.get("sender") == "staff")
    assert "Try resetting it at lms.atyrau.edu.kz" in answer["html"]
    # … and while it is closed: the answer waits in the history.
    await b.close()
    await harness.send(
        "<b>Done</b>: your password is reset",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        thread_id=ticket.thread_id,
    )
    history = await Browser(client, chat).open("en")
    staff = [e for e in history if e["sender"] == "staff"]
    assert len(staff) == 2 and "your password is reset" in staff[-1]["html"]
    assert "<b>" not in staff[-1]["html"]  # what staff typed is text, not markup


# --- the wizard, files ----------------------------------------------------------------------


async def test_the_distance_learning_wizard_takes_a_pdf_and_gives_the_statement(web: Any) -> None:
    harness, _, client = web
    b = await browser(web, "ru")
    await b.say("/start")
    await b.press("lang:ru", data=True)
    await b.say("/apply")
    await b.press("ap:kind:dl", data=True)
    await b.press("ap:ground:health", data=True)
    await b.press("ap:role:parent", data=True)
    for line in (
        "Сейткалиева Гульнар Бакытовна",
        "Сейткалиев Арман Ерланович",
        "900101300126",
        "6B06102",
    ):
        await b.say(line)
    await b.press("ap:course:2", data=True)
    for line in ("01.02.2027", "30.06.2027", "87012345678"):
        await b.say(line)
    status, _ = await b.upload("справка.pdf", PDF)
    assert status == 200
    await b.press("ap:accept:", data=True) if any(
        "ap:accept:" in str(e.get("keyboard")) for e in b.events[-3:]
    ) else None
    done = await b.press("ap:submit:", data=True)
    text = b.texts(done)
    assert "DL-2026-" in text or "DL-" in text, text
    files = [e["file"]["url"] for e in done if e.get("file")]
    assert files, "the statement comes as a download"
    response = await client.get(files[0])
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body[:2] == b"PK" or body[:5] == b"%PDF-"
    # The staff chat in Telegram got the applicant's PDF as a real upload.
    staff_docs = [d for d in harness.session.of(SendDocument) if d.chat_id == STAFF_CHAT_ID]
    assert any(getattr(d.document, "data", b"") == PDF for d in staff_docs)
    # Another browser cannot fetch it.
    other = TgUser(id=1)
    assert other.id == 1
    client.session.cookie_jar.clear()
    await client.get("/chat")
    assert (await client.get(files[0])).status == 404


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        ("cv.pdf", b"MZ\x90\x00 this is an executable", 415),
        ("photo.png", b"<script>alert(1)</script>", 415),
        ("big.pdf", b"%PDF-" + b"0" * (20 * 1024 * 1024), 413),
    ],
    ids=["exe-named-pdf", "html-named-png", "over-20MB"],
)
async def test_uploads_are_checked_by_content_and_size(
    web: Any, name: str, content: bytes, status: int
) -> None:
    harness, _, _ = web
    b = await browser(web)
    got, _ = await b.upload(name, content)
    assert got == status
    async with harness.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebFile)) == 0


# --- limits ---------------------------------------------------------------------------------


async def test_too_long_and_too_fast_messages_are_refused(web: Any) -> None:
    _, chat, _ = web
    chat.settings = chat.settings.model_copy(update={"web_chat_rate": 2.0})
    b = await browser(web)
    assert b.ws is not None
    await b.ws.send_json({"type": "message", "text": "x" * 4001})
    [error] = [f for f in await _frames(b) if f.get("kind") == "error"]
    assert error["code"] == "too_long"
    for _ in range(12):
        await b.ws.send_json({"type": "lang", "lang": "ru"})
    [error] = [f for f in await _frames(b) if f.get("kind") == "error"]
    assert error["code"] == "rate"


async def test_a_telegram_update_naming_a_web_user_is_dropped(web: Any) -> None:
    harness, _, _ = web
    b = await browser(web)
    await b.say("/start")
    harness.session.clear()
    impostor = TgUser(id=b.user_id, first_name="Mallory", language_code="en")
    calls = await harness.send("/mydata", user=impostor)
    assert calls == []


# --- personal data --------------------------------------------------------------------------


async def test_mydata_and_forget_cover_the_web_history(web: Any) -> None:
    harness, _, client = web
    b = await browser(web, "en")
    await b.say("/start")
    await b.press("lang:en", data=True)
    await b.say("How do I transfer to distance learning?")
    shown = await b.say("/mydata")
    [doc] = [e for e in shown if e.get("file")]
    data = await (await client.get(doc["file"]["url"])).json()
    assert any(
        m["text"] == "How do I transfer to distance learning?" for m in data["webchat"]["messages"]
    )
    await b.say("/forget")
    await b.press("forget:1", data=True)
    async with harness.ctx.sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(WebMessage).where(WebMessage.user_id == b.user_id)
        )
        user = await session.get(User, b.user_id)
    assert left == 0 and user is None


async def test_nothing_for_a_web_chat_reaches_telegram(web: Any) -> None:
    """Every Bot API call of a web user's story is answered in the process: the Telegram
    session sees only the staff chat's calls."""
    harness, _, _ = web
    b = await browser(web, "en")
    await b.say("/start")
    await b.press("lang:en", data=True)
    await b.say("How do I transfer to distance learning?")
    await b.say("/help")
    for call in harness.session.requests:
        chat = getattr(call, "chat_id", None) or getattr(
            getattr(call, "scope", None), "chat_id", None
        )
        assert not is_web_id(chat), call


async def test_the_widget_is_one_script_that_frames_the_page_in_the_portals_language(
    web: Any,
) -> None:
    _, _, client = web
    response = await client.get("/chat/widget.js")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    script = await response.text()
    assert "/chat?embed=1" in script and "documentElement.lang" in script
    assert "Көмекшімен сөйлесу" in script and "Chat with the assistant" in script


def test_the_web_chat_refuses_to_run_without_a_cookie_secret() -> None:
    from bot.config import ConfigError, Settings

    settings = Settings(_env_file=None, web_chat_enabled=True)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="WEB_CHAT_SECRET"):
        settings.web_secret()
    short = Settings(_env_file=None, web_chat_secret="short")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="WEB_CHAT_SECRET"):
        short.web_secret()
