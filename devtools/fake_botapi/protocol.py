"""What the fake server shares with the real Bot API: limits, method names, error answers and
the shape of a recorded call."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# Form and query values arrive as strings; these stay strings, the rest are decoded as JSON
# when they parse (numbers, booleans, objects and arrays, as aiogram serialises them).
STRING_FIELDS = frozenset(
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
SEND_METHODS = frozenset(
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

KNOWN_METHODS = (
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
    *sorted(SEND_METHODS),
)
CANONICAL = {name.lower(): name for name in KNOWN_METHODS}

DEFAULT_DESCRIPTIONS = {
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

UPDATE_TYPES_EXCLUDED_BY_DEFAULT = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)


class BotAPIError(Exception):
    """An error answer: raised inside a method handler, sent as ``{"ok": false, ...}``."""

    def __init__(
        self, error_code: int, description: str | None = None, *, retry_after: int | None = None
    ) -> None:
        if description is None:
            description = DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
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


def canonical(method: str) -> str:
    """The method's name as the Bot API spells it (method names are case-insensitive)."""
    return CANONICAL.get(method.lower(), method)


def now() -> int:
    return int(time.time())


def decode_value(key: str, value: str) -> Any:
    if key in STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "unknown")
