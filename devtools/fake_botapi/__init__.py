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

The package, one concern a module: :mod:`.protocol` (limits, method names, error answers, the
recorded :class:`Call`), :mod:`.state` (chats, users, the update queue), :mod:`.methods` (one
handler per Bot API method), :mod:`.limits` (the 429 limiter), :mod:`.files` (uploads and
``getFile``), :mod:`.server` (HTTP routes, the test-facing API) and :mod:`.cli`.
"""

from devtools.fake_botapi.cli import main
from devtools.fake_botapi.protocol import BotAPIError, Call, UploadedFile
from devtools.fake_botapi.server import FakeBotAPI

__all__ = ["BotAPIError", "Call", "FakeBotAPI", "UploadedFile", "main"]
