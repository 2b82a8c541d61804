"""A Bot API session that never touches the network: it records every call and answers it.

The local chat prints what it records; the tests read it (the approach of aiogram's own
``tests/mocked_bot.py``), so both run the very same dispatcher, handlers and texts as Telegram.
"""

from __future__ import annotations

import itertools
import time
import typing
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    Chat,
    File,
    ForumTopic,
    Message,
    MessageId,
    User,
)

from bot.localhub import LocalHub, Record, record_of

BOT_USER = {
    "id": 7066000001,
    "is_bot": True,
    "first_name": "AU Assistant",
    "username": "au_assistant_bot",
}


class LocalSession(BaseSession):
    """``hub``: the local chat's shared folder; message and topic ids come from it, and every
    message shown in a chat is published there as a :class:`Record` (and handed to
    ``on_record``), so other local-chat processes see what was sent to their users."""

    def __init__(
        self,
        on_request: Callable[[TelegramMethod[Any], Any], None] | None = None,
        *,
        hub: LocalHub | None = None,
        on_record: Callable[[Record], None] | None = None,
    ) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.on_request = on_request
        self.hub = hub
        self.on_record = on_record
        # (chat, message id) -> (text, sender) of messages typed here, for copyMessage.
        self.known: dict[tuple[int, int], tuple[str, str]] = {}
        self._ids: dict[int | str, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1000)
        )
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self._topics = itertools.count(100)

    def new_message_id(self, chat_id: int | str) -> int:
        return self.hub.next_id() if self.hub is not None else next(self._ids[chat_id])

    # Test helpers -------------------------------------------------------------------------
    def fail_next(self, method_name: str, exc: BaseException) -> None:
        """The next call of ``method_name`` (e.g. "sendMessage") raises ``exc``."""
        self._failures[method_name].append(exc)

    def of(self, method_type: type[TelegramMethod[Any]]) -> list[Any]:
        return [r for r in self.requests if isinstance(r, method_type)]

    def clear(self) -> None:
        self.requests.clear()

    # BaseSession --------------------------------------------------------------------------
    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's BaseSession signature
    ) -> TelegramType:
        name = method.__api_method__
        self.requests.append(method)
        if self._failures.get(name):
            exc = self._failures[name].pop(0)
            if self.on_request:
                self.on_request(method, exc)
            raise exc
        result = self._answer(bot, method)
        if self.on_request:
            self.on_request(method, result)
        if self.hub is not None or self.on_record is not None:
            self._record(method, result)
        return typing.cast(TelegramType, result)

    def _record(self, method: Any, result: Any) -> None:
        if method.__api_method__ == "answerCallbackQuery":
            if getattr(method, "text", None) and self.on_record is not None:
                self.on_record(Record(method="notice", chat_id=0, text=method.text))
            return
        if method.__api_method__ == "sendMediaGroup":
            self._record_album(method, result)
            return
        record = record_of(method, result, self.known)
        if record is None:
            return
        if record.method in {"sendDocument", "sendPhoto"} and self.hub is not None:
            record.file = self._save_file(method)
        if self.hub is not None:
            self.hub.publish(record)
        if self.on_record is not None:
            self.on_record(record)

    def _record_album(self, method: Any, result: list[Message]) -> None:
        """An album is shown as its photos (or documents), one record each, files saved."""
        for item, sent in zip(method.media, result, strict=False):
            kind = "sendDocument" if item.type == "document" else "sendPhoto"
            record = Record(
                method=kind,
                chat_id=method.chat_id,
                message_id=sent.message_id,
                thread_id=method.message_thread_id,
                text=item.caption or "",
            )
            if self.hub is not None:
                record.file = self._save_file(item, item.media)
                self.hub.publish(record)
            if self.on_record is not None:
                self.on_record(record)

    def _save_file(self, method: Any, file: Any = None) -> str:
        from aiogram.types import BufferedInputFile, FSInputFile

        assert self.hub is not None
        if file is None:
            file = getattr(method, "document", None) or getattr(method, "photo", None)
        if isinstance(file, BufferedInputFile):
            folder = self.hub.path / "files"
            folder.mkdir(exist_ok=True)
            path = folder / (file.filename or "file.bin")
            path.write_bytes(file.data)
            return str(path)
        if isinstance(file, FSInputFile):
            return str(file.path)
        return str(file)

    # Synthesised answers ------------------------------------------------------------------
    def _message(self, bot: Bot, method: Any, message_id: int | None = None) -> Message:
        chat_id = getattr(method, "chat_id", None) or 0
        payload: dict[str, Any] = {
            "message_id": message_id or self.new_message_id(chat_id),
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup",
            },
            "from": BOT_USER,
        }
        text = getattr(method, "text", None)
        if isinstance(text, str):
            payload["text"] = text
        caption = getattr(method, "caption", None)
        if isinstance(caption, str):
            payload["caption"] = caption
        thread = getattr(method, "message_thread_id", None)
        if isinstance(thread, int):
            payload["message_thread_id"] = thread
            payload["is_topic_message"] = True
        markup = getattr(method, "reply_markup", None)
        if markup is not None and markup.__class__.__name__ == "InlineKeyboardMarkup":
            payload["reply_markup"] = markup.model_dump(exclude_none=True)
        name = method.__api_method__
        if name == "sendDocument":
            payload["document"] = {
                "file_id": f"doc{payload['message_id']}",
                "file_unique_id": f"u{payload['message_id']}",
            }
        elif name == "sendPhoto":
            payload["photo"] = [
                {
                    "file_id": f"ph{payload['message_id']}",
                    "file_unique_id": f"p{payload['message_id']}",
                    "width": 1,
                    "height": 1,
                }
            ]
        return Message.model_validate(payload, context={"bot": bot})

    def _album_item(self, bot: Bot, method: Any, item: Any) -> Message:
        """One message of a media group, as Telegram returns it (photo or document)."""
        message = self._message(bot, method)
        kind = "document" if item.type == "document" else "photo"
        extra: dict[str, Any] = {"caption": item.caption} if item.caption else {}
        i = message.message_id
        if kind == "photo":
            extra["photo"] = [
                {"file_id": f"ph{i}", "file_unique_id": f"p{i}", "width": 1, "height": 1}
            ]
        else:
            extra["document"] = {"file_id": f"doc{i}", "file_unique_id": f"u{i}"}
        payload = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        return Message.model_validate({**payload, **extra}, context={"bot": bot})

    def _answer(self, bot: Bot, method: Any) -> Any:
        name = method.__api_method__
        if name == "getMe":
            return User.model_validate(BOT_USER, context={"bot": bot})
        if name in {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}:
            if getattr(method, "inline_message_id", None):
                return True
            return self._message(bot, method, message_id=method.message_id)
        if name in {"copyMessage"}:
            return MessageId(message_id=self.new_message_id(method.chat_id))
        if name == "createForumTopic":
            topic = self.hub.next_id() if self.hub is not None else next(self._topics)
            return ForumTopic(message_thread_id=topic, name=method.name, icon_color=0x6FB9F0)
        if name == "getFile":
            return File(
                file_id=method.file_id,
                file_unique_id=method.file_id,
                file_size=1024,
                file_path=f"files/{method.file_id}",
            )
        if name == "getChat":
            return Chat(id=method.chat_id, type="private")
        if name == "sendMediaGroup":
            return [self._album_item(bot, method, item) for item in method.media]
        if name.startswith("send") and name != "sendChatAction":
            return self._message(bot, method)
        if name == "forwardMessage":
            return self._message(bot, method)
        if name == "getUpdates":
            return []
        if name in {"getMyCommands", "getChatAdministrators"}:
            return []
        return True
