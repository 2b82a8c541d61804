"""The Bot API methods the fake server answers, one ``_m_<method>`` each."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from devtools.fake_botapi.files import FileStore
from devtools.fake_botapi.protocol import BotAPIError, now
from devtools.fake_botapi.state import BotState


class BotMethods(BotState):
    """``_m_getMe``, ``_m_sendMessage``, ...: called with the token and the decoded parameters."""

    webhook_url: str
    commands: dict[str, Any]
    chat_members: dict[tuple[int, int], str]
    file_store: FileStore
    _closing: bool
    _open_callbacks: set[str]
    _poll_generations: collections.defaultdict[str, int]

    def _generic_send(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """A send method without a dedicated handler: a bare message (one per album item)."""
        chat = self._target_chat(params)
        if method == "sendMediaGroup":
            media = params.get("media")
            if not isinstance(media, list) or not 2 <= len(media) <= 10:
                raise BotAPIError(400, "Bad Request: wrong number of media items")
            return [self._new_message(token, chat, params) for _ in media]
        return self._new_message(token, chat, params, **self._caption_content(params))

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
        message.update(content, edit_date=now())
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
        message["edit_date"] = now()
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
        file_id, unique_id, uploaded = self.file_store.store(params.get("document"), "document")
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
        file_id, unique_id, uploaded = self.file_store.store(params.get("photo"), "photo")
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
        uploaded = self.file_store.get(file_id)
        if uploaded is None:
            raise BotAPIError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"unique-{file_id}",
            "file_size": uploaded.size,
            "file_path": self.file_store.path(file_id, uploaded),
        }

    async def _m_close(self, token: str, params: dict[str, Any]) -> Any:
        return True

    async def _m_logOut(self, token: str, params: dict[str, Any]) -> Any:
        return True
