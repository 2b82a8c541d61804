"""A Bot API session wrapper: calls addressed to a web chat never leave the process.

Like :class:`bot.local_session.LocalSession`, the bot's outgoing calls are answered here when
their chat is a web user's (:func:`bot.web.ids.is_web_id`): a message becomes a history row
and an event for the browser, an edit edits it, a document becomes a download. Every other
call goes on to the wrapped session (Telegram) unchanged, with two translations Telegram
needs: a web chat's message copied into the staff chat is sent as a new message (Telegram has
never seen that chat), and a file uploaded in the browser is uploaded to Telegram.
"""

from __future__ import annotations

import html
import io
import logging
import time
import typing
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    Chat,
    File,
    FSInputFile,
    InputFile,
    Message,
    MessageId,
)

from bot.db.base import utcnow
from bot.db.models.web import WebMessage
from bot.web.ids import current_update, is_web_id, pending_ops
from bot.web.store import WebChatStore

log = logging.getLogger(__name__)

WEB_FILE_PREFIX = "web:"  # file ids of web-chat files (uploads and documents the bot sent)
FILE_PATH_PREFIX = "webchat-file/"
CALLBACK_PREFIX = "web:"  # callback query ids of presses in the browser: web:<user>:<seq>
EDITS = {"editMessageText", "editMessageCaption", "editMessageReplyMarkup"}


def _dump(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    return typing.cast(dict[str, Any], markup.model_dump(exclude_none=True, mode="json"))


class WebSession(BaseSession):
    """Answers web chats' calls from the store; passes the rest to ``inner``."""

    def __init__(self, inner: BaseSession, store: WebChatStore) -> None:
        super().__init__(
            api=inner.api,
            json_loads=inner.json_loads,
            json_dumps=inner.json_dumps,
            timeout=inner.timeout,
        )
        self.inner = inner
        self.store = store
        self.staff_chat_id: int | None = None  # copies from here show as "staff" in the page

    # Routing ---------------------------------------------------------------------------------
    async def __call__(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's BaseSession signature
    ) -> TelegramType:
        name = method.__api_method__
        if name == "answerCallbackQuery" and str(
            getattr(method, "callback_query_id", "")
        ).startswith(CALLBACK_PREFIX):
            return typing.cast(TelegramType, self._answer_press(method))
        if name == "getFile" and str(getattr(method, "file_id", "")).startswith(WEB_FILE_PREFIX):
            return typing.cast(TelegramType, self._file(method))
        chat_id = getattr(method, "chat_id", None)
        scope = getattr(method, "scope", None)
        if is_web_id(getattr(scope, "chat_id", None)):
            return typing.cast(TelegramType, True)  # a web user's command menu: none to set
        if is_web_id(chat_id):
            return typing.cast(TelegramType, await self._web(bot, method))
        method = await self._for_telegram(bot, method)
        if isinstance(method, _Reply):
            return typing.cast(TelegramType, MessageId(message_id=method.message_id))
        return await self.inner(bot, method, timeout)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's BaseSession signature
    ) -> TelegramType:
        return await self.inner.make_request(bot, method, timeout)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        if FILE_PATH_PREFIX in url:
            token = url.rsplit(FILE_PATH_PREFIX, 1)[1]
            row = await self.store.file(token)
            if row is not None:
                yield row.data
            return
        async for chunk in self.inner.stream_content(
            url, headers, timeout, chunk_size, raise_for_status
        ):
            yield chunk

    async def close(self) -> None:
        await self.inner.close()

    # Web chats -------------------------------------------------------------------------------
    async def _web(self, bot: Bot, method: Any) -> Any:
        name = method.__api_method__
        user_id: int = method.chat_id
        if name == "sendMessage":
            row = await self._add(user_id, "message", "bot", method.text, method.reply_markup)
            return self._message(bot, method, row)
        if name in {"sendDocument", "sendPhoto"}:
            file = method.document if name == "sendDocument" else method.photo
            token = await self._keep_file(bot, user_id, file, photo=name == "sendPhoto")
            row = await self._add(
                user_id, "message", "bot", method.caption, method.reply_markup, file_token=token
            )
            return self._message(bot, method, row)
        if name == "sendMediaGroup":  # an album (issue 13's /stats): one message per item
            sent = []
            for item in method.media:
                token = await self._keep_file(bot, user_id, item.media, photo=item.type == "photo")
                row = await self._add(
                    user_id, "message", "bot", item.caption, None, file_token=token
                )
                sent.append(self._message(bot, method, row))
            return sent
        if name in {"copyMessage", "forwardMessage"}:
            row = await self._copy_in(bot, method)
            if name == "forwardMessage":
                return self._message(bot, method, row)
            return MessageId(message_id=row.message_id)
        if name in EDITS:
            target = await self.store.find(user_id, method.message_id)
            if target is None:
                raise TelegramBadRequest(method, "Bad Request: message to edit not found")
            if name == "editMessageText":
                target.text = method.text
            elif name == "editMessageCaption":
                target.text = method.caption
            if name != "editMessageText" or method.reply_markup is not None:
                target.markup = _dump(method.reply_markup)
            elif name == "editMessageText":
                target.markup = None  # Telegram drops the inline keyboard an edit does not give
            await self._edit(target)
            return self._message(bot, method, target)
        if name == "deleteMessage":
            await self._add(user_id, "delete", "bot", None, None, ref=method.message_id)
            return True
        if name == "setMessageReaction":
            emoji = "".join(getattr(r, "emoji", "") or "" for r in method.reaction or [])
            await self._add(user_id, "reaction", "bot", emoji, None, ref=method.message_id)
            return True
        if name == "sendChatAction":
            self.store.publish(user_id, {"kind": "typing"})
            return True
        if name == "getChat":
            return Chat(id=user_id, type="private")
        return True  # menus, pins and the like: nothing to show in a browser

    async def _add(
        self,
        user_id: int,
        kind: str,
        sender: str,
        text: str | None,
        markup: Any,
        *,
        ref: int | None = None,
        file_token: str | None = None,
    ) -> WebMessage:
        row = WebMessage(
            message_id=await self.store.next_message_id() if kind == "message" else 0,
            user_id=user_id,
            kind=kind,
            sender=sender,
            ref=ref,
            text=text,
            markup=markup if isinstance(markup, dict) or markup is None else _dump(markup),
            file_token=file_token,
            created_at=utcnow(),
        )
        return await self.store.add(row)

    async def _edit(self, target: WebMessage) -> None:
        ops = pending_ops.get()
        if ops is None or target not in ops:  # a message written before: update its row too
            edit = self.store.edit(target)
            if ops is not None:
                ops.append(edit)
            else:
                await self.store.write([edit])
        await self._add(
            target.user_id,
            "edit",
            target.sender,
            target.text,
            target.markup,
            ref=target.message_id,
        )

    def _message(self, bot: Bot, method: Any, row: WebMessage) -> Message:
        payload: dict[str, Any] = {
            "message_id": row.message_id,
            "date": int(time.time()),
            "chat": {"id": row.user_id, "type": "private"},
            "from": {"id": bot.id, "is_bot": True, "first_name": "AU Assistant"},
        }
        body = row.text
        if row.file_token:
            payload["document"] = {
                "file_id": WEB_FILE_PREFIX + row.file_token,
                "file_unique_id": row.file_token[:16],
            }
            if body:
                payload["caption"] = body
        elif body is not None:
            payload["text"] = body
        mark = row.markup
        if mark and "inline_keyboard" in mark:
            payload["reply_markup"] = mark
        return Message.model_validate(payload, context={"bot": bot})

    def _answer_press(self, method: Any) -> bool:
        _, user, _seq = str(method.callback_query_id).split(":", 2)
        if method.text:
            self.store.publish(int(user), {"kind": "notice", "text": method.text})
        return True

    def _file(self, method: Any) -> File:
        token = method.file_id[len(WEB_FILE_PREFIX) :]
        return File(
            file_id=method.file_id, file_unique_id=token[:16], file_path=FILE_PATH_PREFIX + token
        )

    async def _keep_file(self, bot: Bot, user_id: int, file: Any, *, photo: bool) -> str:
        """The web-chat file of what the bot sends: bytes given, a web file, or Telegram's."""
        if isinstance(file, str) and file.startswith(WEB_FILE_PREFIX):
            return file[len(WEB_FILE_PREFIX) :]
        name = "photo.jpg" if photo else "document"
        mime = "image/jpeg" if photo else "application/octet-stream"
        data: bytes
        if isinstance(file, BufferedInputFile):
            data, name = file.data, file.filename or name
        elif isinstance(file, FSInputFile):
            data, name = _read(file), file.filename or name
        elif isinstance(file, InputFile):
            data = b"".join([chunk async for chunk in file.read(bot)])
        else:
            buffer = io.BytesIO()
            await bot.download(str(file), destination=buffer)
            data = buffer.getvalue()
        return await self.store.save_file(
            user_id, name=name, mime_type=_mime(name, mime), data=data
        )

    async def _copy_in(self, bot: Bot, method: Any) -> WebMessage:
        """A message copied into a web chat: the staff's answer to a ticket, usually."""
        source = current_update.get()
        message = None
        if source is not None:
            for candidate in (source.message, source.edited_message, source.channel_post):
                if (
                    candidate is not None
                    and candidate.chat.id == method.from_chat_id
                    and candidate.message_id == method.message_id
                ):
                    message = candidate
        sender = "staff" if method.from_chat_id != method.chat_id else "bot"
        if message is None:
            log.info(
                "copy of %s:%s into a web chat: not the update in hand",
                method.from_chat_id,
                method.message_id,
            )
            return await self._add(method.chat_id, "message", sender, "…", None)
        token = None
        text = message.html_text if (message.text or message.caption) else None
        if message.document is not None or message.photo:
            file_id = (
                message.document.file_id if message.document else (message.photo or [])[-1].file_id
            )
            name = (message.document.file_name if message.document else None) or "file"
            try:
                buffer = io.BytesIO()
                await bot.download(file_id, destination=buffer)
                token = await self.store.save_file(
                    method.chat_id,
                    name=name,
                    mime_type=_mime(name, "application/octet-stream"),
                    data=buffer.getvalue(),
                )
            except Exception as exc:  # a file Telegram will not give: the words still go
                log.warning("could not fetch a file for web chat %s: %s", method.chat_id, exc)
        markup = method.reply_markup if getattr(method, "reply_markup", None) else None
        return await self._add(method.chat_id, "message", sender, text, markup, file_token=token)

    # Calls for Telegram that mention web chats ------------------------------------------------
    async def _for_telegram(self, bot: Bot, method: Any) -> Any:
        name = method.__api_method__
        if name in {"copyMessage", "forwardMessage"} and is_web_id(method.from_chat_id):
            return await self._copy_out(bot, method)
        if name in {"sendDocument", "sendPhoto"}:
            field = "document" if name == "sendDocument" else "photo"
            file = getattr(method, field)
            if isinstance(file, str) and file.startswith(WEB_FILE_PREFIX):
                row = await self.store.file_in_hand(file[len(WEB_FILE_PREFIX) :])
                if row is not None:
                    return method.model_copy(
                        update={field: BufferedInputFile(row.data, filename=row.name)}
                    )
        return method

    async def _copy_out(self, bot: Bot, method: Any) -> _Reply:
        """A web user's message into a Telegram chat (the staff topic): sent anew."""
        row = await self.store.find(method.from_chat_id, method.message_id)
        text = html.escape(row.text) if row is not None and row.text else None
        common: dict[str, Any] = {
            "chat_id": method.chat_id,
            "message_thread_id": method.message_thread_id,
            "reply_parameters": getattr(method, "reply_parameters", None),
        }
        sent: Message
        file = None
        if row is not None and row.file_token:
            file = await self.store.file_in_hand(row.file_token)
        if file is not None:
            upload = BufferedInputFile(file.data, filename=file.name)
            if file.mime_type.startswith("image/"):
                sent = await self.inner(bot, SendPhoto(photo=upload, caption=text, **common))
            else:
                sent = await self.inner(bot, SendDocument(document=upload, caption=text, **common))
        else:
            sent = await self.inner(bot, SendMessage(text=text or "…", **common))
        return _Reply(sent.message_id)


class _Reply:
    """What a copy out of a web chat became in Telegram (its message id)."""

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id


def _read(file: FSInputFile) -> bytes:
    with open(file.path, "rb") as fh:
        return fh.read()


def _mime(name: str, default: str) -> str:
    lower = name.lower()
    for suffix, mime in (
        (".pdf", "application/pdf"),
        (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (".json", "application/json"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".png", "image/png"),
    ):
        if lower.endswith(suffix):
            return mime
    return default


def install_web_session(bot: Bot, store: WebChatStore) -> WebSession:
    """Wrap ``bot``'s session so web chats are answered here (once; idempotent)."""
    if isinstance(bot.session, WebSession):
        return bot.session
    bot.session = WebSession(bot.session, store)
    return bot.session
