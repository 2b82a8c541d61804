"""The server's memory: chats and their messages, users, the update queue, and the helpers
that build messages the way Telegram does (limits on texts, captions and button data)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devtools.fake_botapi.protocol import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    UPDATE_TYPES_EXCLUDED_BY_DEFAULT,
    BotAPIError,
    now,
    update_type,
)


@dataclass
class Fault:
    error_code: int
    description: str | None
    retry_after: int | None
    times: int


@dataclass
class ChatState:
    chat: dict[str, Any]
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


class BotState:
    """Chats, users and queued updates; :class:`~devtools.fake_botapi.FakeBotAPI` builds on it."""

    token: str | None
    bot_first_name: str
    bot_username: str
    blocked_users: set[int]
    _updates: collections.deque[dict[str, Any]]
    _allowed_updates: frozenset[str] | None
    _chats: dict[int, ChatState]
    _users: dict[int, dict[str, Any]]
    _change: asyncio.Event

    def _changed(self) -> None:
        """Wake everything waiting for news (pollers, ``wait_for``); callable from sync code."""
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def _wait_change(self) -> None:
        await self._change.wait()

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

    def _chat(self, chat_id: Any) -> ChatState:
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
            state = self._chats[chat_id] = ChatState(chat=chat)
        return state

    def _target_chat(self, params: Mapping[str, Any]) -> ChatState:
        chat = self._chat(params.get("chat_id"))
        if chat.chat["id"] in self.blocked_users:
            raise BotAPIError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _new_message(
        self, token: str, chat: ChatState, params: Mapping[str, Any], **content: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "date": now(),
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

    def _find_message(self, params: Mapping[str, Any], what: str) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        message = chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if message is None:
            raise BotAPIError(400, f"Bad Request: message to {what} not found")
        return message

    def _copy_content(self, source: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("text", "entities", "caption", "caption_entities", "document", "photo")
        return {key: source[key] for key in keys if key in source}

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
        kind = update_type(update)
        if self._allowed_updates is None:
            return kind not in UPDATE_TYPES_EXCLUDED_BY_DEFAULT
        return kind in self._allowed_updates
