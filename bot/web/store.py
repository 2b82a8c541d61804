"""History and files of the web chats, and the live feed to the browsers that are open.

Each row of ``web_messages`` becomes one event for the page (:meth:`WebChatStore.event`),
numbered by its ``seq``. A browser that reconnects says the last ``seq`` it saw and gets what
followed; a new page load gets the recent history. What a handler sends to a web chat is kept
aside and written (then shown) when the update is done and its database sessions are closed:
on SQLite a second writer waiting inside a handler that holds the write lock would wait for
ever. What is sent outside an update (workers, the error handler) is written at once. Rows
other processes wrote reach an open browser by a short database poll (:data:`POLL_SECONDS`),
so any process may serve any browser.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import utcnow
from bot.db.models import User
from bot.db.models.web import WebCounter, WebFile, WebMessage
from bot.web.ids import pending_ops
from bot.web.render import keyboard, safe_html

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200  # events a fresh page load shows
POLL_SECONDS = 3.0  # an open browser also looks for rows other processes wrote
RESUME_OVERLAP = timedelta(seconds=30)  # rows committed out of id order are sent again
ID_BLOCK = 200


class _Edit:
    def __init__(self, target: WebMessage) -> None:
        self.target = target


class WebChatStore:
    """Service ``webchat``: history rows, files, and the in-process feed per web user."""

    personal_data_key = "webchat"
    personal_data_tables = ("web_messages", "web_files")

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._listeners: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._ids: list[int] = []
        self._id_lock = asyncio.Lock()
        self._refilling: asyncio.Task[None] | None = None

    # Live feed -------------------------------------------------------------------------------
    def subscribe(self, user_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners[user_id].add(queue)
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        listeners = self._listeners.get(user_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[user_id]

    def publish(self, user_id: int, payload: dict[str, Any]) -> None:
        for queue in self._listeners.get(user_id, ()):
            queue.put_nowait(payload)

    def connected(self, user_id: int) -> bool:
        return bool(self._listeners.get(user_id))

    # Users ---------------------------------------------------------------------------------
    async def ensure_user(self, user_id: int, *, first_name: str, language: str | None) -> None:
        """The web user's row, made with ``channel = web`` (again after /forget)."""
        async with self.sessionmaker() as session:
            await self._ensure_user(session, user_id, first_name=first_name, language=language)
            await session.commit()

    async def add_from_user(
        self, row: WebMessage, *, first_name: str, language: str | None
    ) -> None:
        """What the user typed or pressed, and their row if /forget erased it: one commit."""
        async with self.sessionmaker() as session:
            await self._ensure_user(session, row.user_id, first_name=first_name, language=language)
            session.add(row)
            await session.commit()
        self.publish(row.user_id, self.event(row))

    async def _ensure_user(
        self, session: AsyncSession, user_id: int, *, first_name: str, language: str | None
    ) -> None:
        values = {
            "id": user_id,
            "first_name": first_name,
            "telegram_language": language,
            "channel": "web",
            "role": "student",
            "is_active": True,
            "created_at": utcnow(),
            "last_seen_at": utcnow(),
        }
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await session.execute(insert(User).values(**values).on_conflict_do_nothing())

    # Message ids -----------------------------------------------------------------------------
    async def next_message_id(self) -> int:
        """A message id no other message has (blocks of :data:`ID_BLOCK` per process).

        The next block is fetched in the background when half of this one is used, so a
        handler holding SQLite's write lock never waits on another writer for an id.
        """
        if not self._ids:
            await self._refill()
        elif len(self._ids) < ID_BLOCK // 2 and self._refilling is None:
            self._refilling = asyncio.create_task(self._refill())
        return self._ids.pop(0)

    async def _refill(self) -> None:
        async with self._id_lock:
            try:
                if len(self._ids) >= ID_BLOCK // 2:
                    return
                async with self.sessionmaker() as session:
                    dialect = session.get_bind().dialect.name
                    insert = pg_insert if dialect == "postgresql" else sqlite_insert
                    await session.execute(
                        insert(WebCounter).values(name="message", value=0).on_conflict_do_nothing()
                    )
                    top = await session.scalar(
                        update(WebCounter)
                        .where(WebCounter.name == "message")
                        .values(value=WebCounter.value + ID_BLOCK)
                        .returning(WebCounter.value)
                    )
                    await session.commit()
                assert top is not None
                self._ids.extend(range(top - ID_BLOCK + 1, top + 1))
            finally:
                self._refilling = None

    # Rows ------------------------------------------------------------------------------------
    async def add(self, row: WebMessage) -> WebMessage:
        """Store one event. Inside an update it is written (and shown) once the update's
        sessions are closed; elsewhere at once."""
        ops = pending_ops.get()
        if ops is not None:
            ops.append(row)
            return row
        await self.write([row])
        return row

    async def write(self, ops: list[Any]) -> None:
        """Write buffered rows, files and edits in one transaction, then show them.

        A user without a row (erased by /forget in this very update) keeps nothing: the
        events still reach an open browser.
        """
        if not ops:
            return
        shown: list[WebMessage] = []
        async with self.sessionmaker() as session:
            present: dict[int, bool] = {}
            for op in ops:
                user_id = op.user_id if not isinstance(op, _Edit) else op.target.user_id
                if user_id not in present:
                    present[user_id] = await session.get(User, user_id) is not None
                if not present[user_id]:
                    if isinstance(op, WebMessage):
                        self.publish(op.user_id, self.event(op))
                    continue
                if isinstance(op, _Edit):
                    await session.execute(
                        update(WebMessage)
                        .where(
                            WebMessage.user_id == op.target.user_id,
                            WebMessage.message_id == op.target.message_id,
                            WebMessage.kind == "message",
                        )
                        .values(text=op.target.text, markup=op.target.markup)
                        .execution_options(synchronize_session=False)
                    )
                    continue
                session.add(op)
                if isinstance(op, WebMessage):
                    shown.append(op)
            await session.commit()
        for row in shown:
            self.publish(row.user_id, self.event(row))

    def edit(self, target: WebMessage) -> Any:
        """An op for :meth:`write` that stores ``target``'s new text and markup."""
        return _Edit(target)

    async def find(self, user_id: int, message_id: int) -> WebMessage | None:
        """A message of ``user_id``'s chat: one written or one this update is about to write."""
        for op in reversed(pending_ops.get() or []):
            if isinstance(op, WebMessage) and op.message_id == message_id and op.kind == "message":
                return op if op.user_id == user_id else None
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(WebMessage).where(
                    WebMessage.user_id == user_id,
                    WebMessage.message_id == message_id,
                    WebMessage.kind == "message",
                )
            )

    async def find_any(self, message_id: int) -> WebMessage | None:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(WebMessage).where(
                    WebMessage.message_id == message_id, WebMessage.kind == "message"
                )
            )

    async def history(self, user_id: int, *, after: int | None = None) -> list[dict[str, Any]]:
        """Events after ``after`` (a reconnect), or the recent messages (a page load)."""
        async with self.sessionmaker() as session:
            query = select(WebMessage).where(WebMessage.user_id == user_id)
            if after is not None:
                since = utcnow() - RESUME_OVERLAP
                query = query.where(
                    (WebMessage.seq > after) | (WebMessage.created_at >= since)
                ).order_by(WebMessage.seq)
                rows = list((await session.scalars(query.limit(HISTORY_LIMIT * 5))).all())
            else:
                query = query.where(WebMessage.kind == "message")
                newest = query.order_by(WebMessage.seq.desc()).limit(HISTORY_LIMIT)
                rows = list((await session.scalars(newest)).all())
                rows.reverse()
            return [self.event(row) for row in rows]

    def event(self, row: WebMessage) -> dict[str, Any]:
        """One event as the page gets it: bot and staff text already made safe."""
        payload: dict[str, Any] = {
            "seq": row.seq,
            "id": row.message_id,
            "kind": row.kind,
            "sender": row.sender,
            "ref": row.ref,
            "at": (row.created_at or utcnow()).isoformat(),
        }
        if row.sender == "user":
            payload["text"] = row.text or ""
        else:
            payload["html"] = safe_html(row.text)
        markup = keyboard(row.markup)
        if markup is not None:
            payload["keyboard"] = markup
        if row.file_token:
            payload["file"] = {"url": f"/chat/api/file/{row.file_token}"}
        return payload

    # Files -----------------------------------------------------------------------------------
    async def save_file(
        self,
        user_id: int,
        *,
        name: str,
        mime_type: str,
        data: bytes,
    ) -> str:
        token = secrets.token_urlsafe(24)
        row = WebFile(
            token=token,
            user_id=user_id,
            name=name[:255],
            mime_type=mime_type,
            size=len(data),
            data=data,
            created_at=utcnow(),
        )
        ops = pending_ops.get()
        if ops is not None:
            ops.insert(0, row)  # before the message that links to it
            return token
        async with self.sessionmaker() as own:
            own.add(row)
            await own.commit()
        return token

    async def file(self, token: str) -> WebFile | None:
        async with self.sessionmaker() as session:
            return await session.scalar(select(WebFile).where(WebFile.token == token))

    async def file_in_hand(self, token: str) -> WebFile | None:
        """A file written, or one this update is about to write."""
        for op in pending_ops.get() or []:
            if isinstance(op, WebFile) and op.token == token:
                return op
        return await self.file(token)

    # Personal data (/mydata, /forget) --------------------------------------------------------
    async def collect_personal_data(self, session: AsyncSession, user_id: int) -> dict[str, Any]:
        messages = await session.scalars(
            select(WebMessage).where(WebMessage.user_id == user_id).order_by(WebMessage.seq)
        )
        files = await session.scalars(select(WebFile).where(WebFile.user_id == user_id))
        return {
            "messages": [
                {
                    "seq": m.seq,
                    "kind": m.kind,
                    "sender": m.sender,
                    "text": m.text,
                    "at": m.created_at.isoformat(),
                }
                for m in messages
            ],
            "files": [
                {
                    "name": f.name,
                    "type": f.mime_type,
                    "size": f.size,
                    "at": f.created_at.isoformat(),
                }
                for f in files
            ],
        }

    async def erase_personal_data(self, session: AsyncSession, user_id: int) -> int:
        erased = 0
        for model in (WebMessage, WebFile):
            result = await session.execute(delete(model).where(model.user_id == user_id))
            erased += int(getattr(result, "rowcount", 0) or 0)
        return erased
