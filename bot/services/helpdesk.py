"""Helpdesk handoff: tickets relayed between a student's private chat and the staff chat.

The staff chat is a supergroup with topics (one topic per ticket, as in MasterGroosha's
telegram-feedback-bot-topics); in a chat without topics the bot falls back to reply-based relay
and remembers that. Content is relayed with ``copyMessage`` both ways; every relayed message is
stored with its id on both sides so replies and edits map across.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import holidays
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, Message, MessageId, ReplyParameters
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot import hotcache
from bot.config import Settings
from bot.db.base import utcnow
from bot.db.models import User
from bot.db.models.applications import ApplicationStatus
from bot.db.models.helpdesk import (
    Direction,
    HelpdeskBan,
    RelayMode,
    StaffChat,
    Ticket,
    TicketAssignment,
    TicketMessage,
    TicketStatus,
    TicketTopic,
)
from bot.db.repositories import applications as application_repo
from bot.db.repositories import questions as question_log
from bot.i18n import use_locale
from bot.metrics import metrics
from bot.workers import run_worker_loop

log = logging.getLogger(__name__)

TOPIC_LABELS = {
    TicketTopic.APPLICATION: __("📝 Application"),
    TicketTopic.SCHEDULE: __("🗓 Schedule and access"),
    TicketTopic.TECHNICAL: __("🛠 Technical problem"),
    TicketTopic.OTHER: __("💬 Other"),
}
# How long a remembered "this chat has no topics" holds before topics are tried again.
MODE_RECHECK = timedelta(hours=24)
OPEN_TICKETS = "helpdesk.open_tickets"  # session.info key: each user's open ticket, or None


class HelpdeskError(Exception):
    """A ticket operation that cannot be done; ``str()`` is a user-facing (translated) text."""


class StaffChatUnreachable(HelpdeskError):
    """The staff chat refused the ticket (bot removed, no rights): try again later."""


# Working hours -------------------------------------------------------------------------------
class WorkingHours:
    """Weekdays within WORKING_HOURS_START/END in TIMEZONE, skipping Kazakhstan public holidays."""

    def __init__(self, settings: Settings) -> None:
        self.tz = settings.tz
        self.start = settings.working_hours_start
        self.end = settings.working_hours_end
        self._holidays = holidays.country_holidays("KZ")
        self._working: dict[date, bool] = {}  # the holidays lookup is slow; days repeat

    def is_working_day(self, day: date) -> bool:
        working = self._working.get(day)
        if working is None:
            working = self._working[day] = day.weekday() < 5 and day not in self._holidays
        return working

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.start, tzinfo=self.tz),
            datetime.combine(day, self.end, tzinfo=self.tz),
        )

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        if not self.is_working_day(local.date()):
            return False
        start, end = self._window(local.date())
        return start <= local < end

    def next_opening(self, moment: datetime) -> datetime:
        """The next moment (local time) working hours begin, after ``moment``."""
        local = moment.astimezone(self.tz)
        day = local.date()
        for _i in range(60):
            if self.is_working_day(day):
                start, _end = self._window(day)
                if start > local:
                    return start
            day += timedelta(days=1)
        return local  # pragma: no cover - 60 days without a working day

    def minutes_between(
        self, since: datetime, until: datetime, *, cap: float | None = None
    ) -> float:
        """Working minutes elapsed between two moments (counting stops once past ``cap``)."""
        if until <= since:
            return 0.0
        total = 0.0
        day = since.astimezone(self.tz).date()
        last = until.astimezone(self.tz).date()
        while day <= last:
            if self.is_working_day(day):
                start, end = self._window(day)
                lo, hi = max(start, since), min(end, until)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 60
                if cap is not None and total > cap:
                    return total
            day += timedelta(days=1)
        return total


# Context from other areas, read through their repositories -----------------------------------
# Decided applications: not "open" on the context card.
CLOSED_APPLICATION = frozenset(
    {ApplicationStatus.APPROVED.value, ApplicationStatus.REJECTED.value}
)


@dataclass
class StudentContext:
    questions: list[tuple[str, str]]  # (question text, clause ids)
    programme: str | None
    application: str | None


async def student_context(
    session: AsyncSession, user_id: int, question_id: int | None
) -> StudentContext:
    """What the card tells staff: the student's last questions (or the one that led to the
    ticket), the programme of their latest application and the one still under review."""
    ctx = StudentContext(questions=[], programme=None, application=None)
    asked = await question_log.recent(session, user_id, limit=3)
    if not asked and question_id:
        first = await question_log.get(session, question_id)
        asked = [first] if first is not None else []
    ctx.questions = [(q.text or "", ", ".join(str(c) for c in q.clauses or ())) for q in asked]
    for app in await application_repo.recent_of_user(session, user_id, limit=10):
        if app.programme_code and ctx.programme is None:
            ctx.programme = app.programme_code
        if ctx.application is None and app.status not in CLOSED_APPLICATION:
            ctx.application = " · ".join(
                p for p in (app.reference or f"#{app.id}", app.kind, app.status) if p
            )
    return ctx


def unreachable_text() -> str:
    return _(
        "I could not reach the Helpdesk just now. Please send your message again in a few minutes."
    )


def format_age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return _("{m} min").format(m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    return _("{d} d").format(d=hours // 24)


def _content_type(message: Message) -> str:
    kind = message.content_type
    return str(getattr(kind, "value", kind))


def display_name(user: User | None, fallback_id: int) -> str:
    if user is None:
        return str(fallback_id)
    return user.full_name or (f"@{user.username}" if user.username else str(user.id))


# The service ----------------------------------------------------------------------------------
class HelpdeskService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = 60.0,
        i18n: I18n,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.stopping = asyncio.Event()
        self.hours = WorkingHours(settings)
        self.i18n = i18n  # the process's one I18n (bot.app.AppContext.i18n)

    # Basics -----------------------------------------------------------------------------------
    @property
    def staff_language(self) -> str:
        return self.settings.default_language

    @property
    def staff_chat_id(self) -> int | None:
        return self.settings.staff_chat_id

    def now(self) -> datetime:
        return self.clock()

    # Queries ----------------------------------------------------------------------------------
    async def open_ticket_of(
        self, session: AsyncSession, user_id: int, *, new_user: bool = False
    ) -> Ticket | None:
        """The user's open ticket. Several filters ask while one update is routed, so the answer
        is kept for the rest of the session (one update's); opening or closing one updates it.
        ``new_user``: this update created the user's row, so no ticket names them yet
        (``tickets.user_id`` references it): nothing to read (issue 18)."""
        known: dict[int, Ticket | None] = session.info.setdefault(OPEN_TICKETS, {})
        if user_id in known:
            ticket = known[user_id]
            if ticket is None or ticket.status == TicketStatus.OPEN.value:
                return ticket
        # issue 18: most users have no open ticket; the process remembers that until a ticket of
        # theirs is written (opened, closed) in any process (bot.hotcache).
        cache = hotcache.of(session)
        if cache.get(hotcache.TICKETS, user_id):
            known[user_id] = None
            return None
        generation = cache.generation(hotcache.TICKETS)
        if new_user:
            known[user_id] = None
            cache.put(hotcache.TICKETS, user_id, True, generation)
            return None
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.user_id == user_id, Ticket.status == TicketStatus.OPEN.value)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        known[user_id] = ticket
        if ticket is None:
            cache.put(hotcache.TICKETS, user_id, True, generation)
        return ticket

    async def get(self, session: AsyncSession, ticket_id: int) -> Ticket | None:
        return await session.get(Ticket, ticket_id)

    async def by_thread(
        self, session: AsyncSession, chat_id: int, thread_id: int
    ) -> Ticket | None:
        return await session.scalar(
            select(Ticket)
            .where(
                Ticket.staff_chat_id == chat_id,
                Ticket.thread_id == thread_id,
                Ticket.relay_mode == RelayMode.TOPIC.value,
            )
            .order_by(Ticket.id.desc())
            .limit(1)
        )

    async def by_staff_message(
        self, session: AsyncSession, chat_id: int, message_id: int
    ) -> tuple[Ticket, TicketMessage | None] | None:
        """The ticket a staff-chat message belongs to: its card or a relayed message."""
        row = await session.execute(
            select(Ticket, TicketMessage)
            .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
            .where(Ticket.staff_chat_id == chat_id, TicketMessage.staff_message_id == message_id)
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )
        found = row.first()
        if found is not None:
            return found[0], found[1]
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.staff_chat_id == chat_id, Ticket.card_message_id == message_id)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        return (ticket, None) if ticket is not None else None

    async def message_by_student_id(
        self, session: AsyncSession, ticket_id: int, message_id: int
    ) -> TicketMessage | None:
        return await session.scalar(
            select(TicketMessage)
            .where(
                TicketMessage.ticket_id == ticket_id,
                TicketMessage.student_message_id == message_id,
            )
            .limit(1)
        )

    async def message_by_staff_id(
        self, session: AsyncSession, ticket_id: int, message_id: int
    ) -> TicketMessage | None:
        return await session.scalar(
            select(TicketMessage)
            .where(
                TicketMessage.ticket_id == ticket_id,
                TicketMessage.staff_message_id == message_id,
            )
            .limit(1)
        )

    async def open_tickets(self, session: AsyncSession) -> Sequence[Ticket]:
        return (
            await session.scalars(
                select(Ticket).where(Ticket.status == TicketStatus.OPEN.value).order_by(Ticket.id)
            )
        ).all()

    async def open_tickets_with_people(
        self, session: AsyncSession
    ) -> list[tuple[Ticket, User | None, User | None]]:
        """Open tickets, oldest first, each with its student and assignee: one query for the
        list, however long (``/tickets``)."""
        student, assignee = aliased(User), aliased(User)
        rows = await session.execute(
            select(Ticket, student, assignee)
            .outerjoin(student, student.id == Ticket.user_id)
            .outerjoin(assignee, assignee.id == Ticket.assignee_id)
            .where(Ticket.status == TicketStatus.OPEN.value)
            .order_by(Ticket.id)
        )
        return [(ticket, who, by) for ticket, who, by in rows.all()]

    async def last_message(self, session: AsyncSession, ticket: Ticket) -> TicketMessage | None:
        """The ticket's latest relayed message, either way."""
        return await session.scalar(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )

    async def is_banned(self, session: AsyncSession, user_id: int) -> bool:
        return await session.get(HelpdeskBan, user_id) is not None

    # Opening ----------------------------------------------------------------------------------
    async def _topics_known_missing(self, session: AsyncSession, chat_id: int) -> bool:
        row = await session.get(StaffChat, chat_id)
        return row is not None and not row.topics and self.now() - row.checked_at < MODE_RECHECK

    async def _remember_mode(self, session: AsyncSession, chat_id: int, topics: bool) -> None:
        row = await session.get(StaffChat, chat_id)
        if row is None:
            session.add(StaffChat(chat_id=chat_id, topics=topics, checked_at=self.now()))
        else:
            row.topics = topics
            row.checked_at = self.now()
        await session.flush()

    async def open_ticket(
        self,
        bot: Bot,
        session: AsyncSession,
        *,
        user: User,
        language: str,
        topic: TicketTopic,
        question: Message,
        question_id: int | None = None,
    ) -> Ticket:
        """Create the ticket, its topic (or reply thread) and context card; relay the question.

        Raises HelpdeskError (and leaves no ticket behind) when the staff chat is unreachable.
        """
        chat_id = self.staff_chat_id
        if chat_id is None:
            raise HelpdeskError(_("The helpdesk is not connected yet. Please try again later."))
        if await self.is_banned(session, user.id):
            raise HelpdeskError(_("You cannot open helpdesk requests."))
        now = self.now()
        ticket = Ticket(
            user_id=user.id,
            status=TicketStatus.OPEN.value,
            topic=topic.value,
            language=language,
            question_id=question_id or None,
            staff_chat_id=chat_id,
            relay_mode=RelayMode.TOPIC.value,
            created_at=now,
            waiting_since=now,
        )
        session.add(ticket)
        await session.flush()
        session.info.get(OPEN_TICKETS, {}).pop(user.id, None)
        try:
            await self.post_card(bot, session, ticket, user)
            await self.relay_from_student(bot, session, ticket, question)
        except TelegramAPIError as exc:
            log.warning("ticket %s: the staff chat %s is unreachable: %s", ticket.id, chat_id, exc)
            await session.delete(ticket)
            await session.flush()
            raise StaffChatUnreachable(unreachable_text()) from exc
        metrics.handoffs.inc()
        return ticket

    async def post_card(self, bot: Bot, session: AsyncSession, ticket: Ticket, user: User) -> None:
        """Open the ticket's forum topic (or fall back to replies) and post the context card."""
        chat_id = ticket.staff_chat_id
        context = await student_context(session, user.id, ticket.question_id)
        with use_locale(self.i18n, self.staff_language):
            topic_name = self.topic_name(ticket, user)
            ticket.thread_id = None
            ticket.relay_mode = RelayMode.TOPIC.value
            if not await self._topics_known_missing(session, chat_id):
                try:
                    forum = await bot.create_forum_topic(chat_id=chat_id, name=topic_name)
                    ticket.thread_id = forum.message_thread_id
                    await self._remember_mode(session, chat_id, True)
                except TelegramBadRequest as exc:
                    log.info("staff chat %s has no topics (%s): reply-based relay", chat_id, exc)
                    await self._remember_mode(session, chat_id, False)
            if ticket.thread_id is None:
                ticket.relay_mode = RelayMode.REPLY.value
            card = self.card_text(ticket, user, context)
            sent = await bot.send_message(
                chat_id=chat_id, text=card, message_thread_id=ticket.thread_id
            )
        ticket.card_message_id = sent.message_id
        await session.flush()

    def topic_name(self, ticket: Ticket, user: User | None) -> str:
        label = str(TOPIC_LABELS[TicketTopic(ticket.topic)])
        return f"#{ticket.id} {display_name(user, ticket.user_id)} · {label}"[:120]

    def card_text(self, ticket: Ticket, user: User, context: StudentContext) -> str:
        """The context card that opens a ticket's topic (in the staff language)."""
        name = html.escape(display_name(user, user.id))
        lines = [
            _("🆕 <b>Ticket #{id}</b> · {topic}").format(
                id=ticket.id, topic=str(TOPIC_LABELS[TicketTopic(ticket.topic)])
            ),
            _("Student: {link}{username}, id <code>{id}</code>").format(
                # A web chat user has no Telegram profile to open: say where they write from.
                link=_("{name} (web chat)").format(name=name)
                if user.channel == "web"
                else f'<a href="tg://user?id={user.id}">{name}</a>',
                username=f" (@{html.escape(user.username)})" if user.username else "",
                id=user.id,
            ),
            _("Language: {lang} · role: {role}").format(lang=ticket.language, role=user.role),
            _("Programme: {programme}").format(
                programme=html.escape(context.programme) if context.programme else "—"
            ),
            _("Open application: {application}").format(
                application=html.escape(context.application) if context.application else "—"
            ),
        ]
        if context.questions:
            lines.append(_("Recent questions to the bot:"))
            for text, clauses in context.questions:
                line = "• " + html.escape(text[:200])
                if clauses:
                    line += " → " + html.escape(clauses)
                lines.append(line)
        else:
            lines.append(_("Recent questions to the bot: none"))
        if not self.hours.is_open(ticket.created_at):
            lines.append(_("⏰ Opened outside working hours."))
        lines.append("")
        if ticket.relay_mode == RelayMode.TOPIC.value:
            lines.append(
                _("Write in this topic to answer. Commands: /take, /close, /ban, /unban.")
            )
        else:
            lines.append(
                _(
                    "This chat has no topics: reply to this card or to the student's messages "
                    "to answer. Commands (as a reply): /take, /close, /ban, /unban."
                )
            )
        return "\n".join(lines)

    # Relay ------------------------------------------------------------------------------------
    async def relay_from_student(
        self, bot: Bot, session: AsyncSession, ticket: Ticket, message: Message
    ) -> TicketMessage:
        """Copy the student's message into the ticket's topic (a deleted topic is reopened)."""
        try:
            copied = await self._copy_to_staff(session, bot, ticket, message)
        except TelegramBadRequest as exc:
            if ticket.relay_mode != RelayMode.TOPIC.value or "thread" not in str(exc).lower():
                raise
            log.info("ticket %s: its topic is gone (%s); opening a new one", ticket.id, exc)
            user = await session.get(User, ticket.user_id)
            assert user is not None
            await self.post_card(bot, session, ticket, user)
            copied = await self._copy_to_staff(session, bot, ticket, message)
        record = TicketMessage(
            ticket_id=ticket.id,
            direction=Direction.FROM_STUDENT.value,
            sender_id=ticket.user_id,
            student_message_id=message.message_id,
            staff_message_id=copied.message_id,
            content_type=_content_type(message),
            text=message.text or message.caption,
            created_at=self.now(),
        )
        session.add(record)
        if ticket.waiting_since is None:
            ticket.waiting_since = self.now()
        await session.flush()
        return record

    async def _copy_to_staff(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, message: Message
    ) -> MessageId:
        reply_to: int | None = None
        if ticket.relay_mode == RelayMode.REPLY.value:
            reply_to = ticket.card_message_id
        elif message.reply_to_message is not None:
            mapped = await self.message_by_student_id(
                session, ticket.id, message.reply_to_message.message_id
            )
            reply_to = mapped.staff_message_id if mapped is not None else None
        return await bot.copy_message(
            chat_id=ticket.staff_chat_id,
            from_chat_id=message.chat.id,
            message_id=message.message_id,
            message_thread_id=ticket.thread_id,
            reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None,
        )

    async def relay_from_staff(
        self, bot: Bot, session: AsyncSession, ticket: Ticket, message: Message, staff: User
    ) -> TicketMessage | None:
        """Copy a staff message to the student; None (and a note in the chat) if undeliverable."""
        reply_to: int | None = None
        if message.reply_to_message is not None:
            mapped = await self.message_by_staff_id(
                session, ticket.id, message.reply_to_message.message_id
            )
            reply_to = mapped.student_message_id if mapped is not None else None
        try:
            copied = await bot.copy_message(
                chat_id=ticket.user_id,
                from_chat_id=message.chat.id,
                message_id=message.message_id,
                reply_parameters=ReplyParameters(
                    message_id=reply_to, allow_sending_without_reply=True
                )
                if reply_to
                else None,
            )
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            log.info("ticket %s: could not deliver to %s: %s", ticket.id, ticket.user_id, exc)
            await message.reply(
                _("⚠️ Not delivered: the student has blocked the bot or deleted the chat.")
            )
            return None
        now = self.now()
        record = TicketMessage(
            ticket_id=ticket.id,
            direction=Direction.FROM_STAFF.value,
            sender_id=staff.id,
            student_message_id=copied.message_id,
            staff_message_id=message.message_id,
            content_type=_content_type(message),
            text=message.text or message.caption,
            created_at=now,
        )
        session.add(record)
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.waiting_since = None
        ticket.sla_pinged_at = None
        if ticket.assignee_id is None:
            await self.assign(session, ticket, staff)
        await session.flush()
        return record

    async def mirror_edit(
        self,
        bot: Bot,
        session: AsyncSession,
        record: TicketMessage,
        message: Message,
        *,
        to_student: bool,
    ) -> bool:
        """Apply an edit of a relayed message to its copy on the other side."""
        ticket = await self.get(session, record.ticket_id)
        if ticket is None:
            return False
        chat_id = ticket.user_id if to_student else ticket.staff_chat_id
        target = record.student_message_id if to_student else record.staff_message_id
        try:
            if message.text is not None:
                await bot.edit_message_text(
                    chat_id=chat_id, message_id=target, text=message.html_text
                )
            elif message.caption is not None:
                await bot.edit_message_caption(
                    chat_id=chat_id, message_id=target, caption=message.html_text
                )
            else:
                return False
        except TelegramAPIError as exc:
            log.info("could not mirror an edit in ticket %s: %s", ticket.id, exc)
            return False
        record.text = message.text or message.caption
        record.edited_at = self.now()
        await session.flush()
        return True

    # Staff actions ----------------------------------------------------------------------------
    async def assign(self, session: AsyncSession, ticket: Ticket, staff: User) -> None:
        ticket.assignee_id = staff.id
        session.add(
            TicketAssignment(ticket_id=ticket.id, staff_id=staff.id, assigned_at=self.now())
        )
        await session.flush()

    async def close(
        self, session: AsyncSession, ticket: Ticket, by: int, *, bot: Bot | None = None
    ) -> None:
        """Close the ticket; with ``bot``, its topic is renamed "✅ …" so staff see it is done."""
        ticket.status = TicketStatus.CLOSED.value
        ticket.closed_at = self.now()
        ticket.closed_by = by
        ticket.waiting_since = None
        await session.flush()
        if bot is None or ticket.relay_mode != RelayMode.TOPIC.value or ticket.thread_id is None:
            return
        user = await session.get(User, ticket.user_id)
        with use_locale(self.i18n, self.staff_language):
            name = self.topic_name(ticket, user)
        try:
            await bot.edit_forum_topic(
                chat_id=ticket.staff_chat_id,
                message_thread_id=ticket.thread_id,
                name=f"✅ {name}"[:128],
            )
        except TelegramAPIError as exc:
            log.info("ticket %s: could not rename its topic: %s", ticket.id, exc)

    async def ban(
        self, session: AsyncSession, user_id: int, by: int, ticket_id: int | None
    ) -> bool:
        if await self.is_banned(session, user_id):
            return False
        session.add(
            HelpdeskBan(user_id=user_id, banned_by=by, ticket_id=ticket_id, created_at=self.now())
        )
        await session.flush()
        return True

    async def unban(self, session: AsyncSession, user_id: int) -> bool:
        result = await session.execute(delete(HelpdeskBan).where(HelpdeskBan.user_id == user_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def rate(self, session: AsyncSession, ticket: Ticket, score: int) -> None:
        ticket.rating = score
        ticket.rated_at = self.now()
        await session.flush()

    async def notify_staff(
        self,
        bot: Bot,
        ticket: Ticket,
        text: str,
        *,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """A line in the ticket's topic (or, without topics, as a reply to its card)."""
        try:
            await bot.send_message(
                chat_id=ticket.staff_chat_id,
                text=text,
                message_thread_id=ticket.thread_id,
                reply_parameters=ReplyParameters(
                    message_id=ticket.card_message_id, allow_sending_without_reply=True
                )
                if ticket.relay_mode == RelayMode.REPLY.value and ticket.card_message_id
                else None,
                reply_markup=reply_markup,
            )
        except TelegramAPIError as exc:
            log.warning("could not post to the staff chat about ticket %s: %s", ticket.id, exc)

    # SLA ----------------------------------------------------------------------------------------
    async def check_sla(self, bot: Bot, now: datetime | None = None) -> list[int]:
        """Raise again each open ticket waiting longer than the SLA (in working minutes)."""
        now = now or self.now()
        limit = self.settings.helpdesk_sla_minutes
        raised: list[int] = []
        async with self.sessionmaker() as session:
            tickets = (
                await session.scalars(
                    select(Ticket).where(
                        Ticket.status == TicketStatus.OPEN.value, Ticket.waiting_since.is_not(None)
                    )
                )
            ).all()
            for ticket in tickets:
                since = ticket.waiting_since
                assert since is not None
                if ticket.sla_pinged_at is not None and ticket.sla_pinged_at > since:
                    since = ticket.sla_pinged_at
                if self.hours.minutes_between(since, now) < limit:
                    continue
                waited = self.hours.minutes_between(ticket.waiting_since or since, now)
                assignee = (
                    await session.get(User, ticket.assignee_id) if ticket.assignee_id else None
                )
                with use_locale(self.i18n, self.staff_language):
                    text = _(
                        "⏰ Ticket #{id} has been waiting for an answer for {minutes} working "
                        "minutes (limit {limit}). Assignee: {assignee}."
                    ).format(
                        id=ticket.id,
                        minutes=int(waited),
                        limit=limit,
                        assignee=html.escape(display_name(assignee, 0))
                        if assignee
                        else _("nobody"),
                    )
                    await self.notify_staff(bot, ticket, text)
                ticket.sla_pinged_at = now
                raised.append(ticket.id)
            await session.commit()
        return raised

    async def run_forever(self, bot: Bot) -> None:
        await run_worker_loop(
            lambda: self.check_sla(bot),
            stopping=self.stopping,
            interval=self.poll_seconds,
            what="helpdesk SLA check",
        )

    def request_stop(self) -> None:
        """Shutdown: let the check in hand finish, then leave ``run_forever``."""
        self.stopping.set()

    # Export -------------------------------------------------------------------------------------
    async def export_rows(self, session: AsyncSession) -> list[dict[str, Any]]:
        tickets = (await session.scalars(select(Ticket).order_by(Ticket.id))).all()
        rows: list[dict[str, Any]] = []
        for t in tickets:
            count = len(
                (
                    await session.scalars(
                        select(TicketMessage.id).where(TicketMessage.ticket_id == t.id)
                    )
                ).all()
            )

            def iso(value: datetime | None) -> str:
                return value.astimezone(UTC).isoformat() if value else ""

            rows.append(
                {
                    "id": t.id,
                    "user_id": t.user_id,
                    "status": t.status,
                    "topic": t.topic,
                    "language": t.language,
                    "relay_mode": t.relay_mode,
                    "assignee_id": t.assignee_id or "",
                    "created_at": iso(t.created_at),
                    "first_response_at": iso(t.first_response_at),
                    "closed_at": iso(t.closed_at),
                    "closed_by": t.closed_by or "",
                    "rating": t.rating or "",
                    "rating_comment": t.rating_comment or "",
                    "messages": count,
                }
            )
        return rows
