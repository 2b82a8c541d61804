"""/stats (staff and admins; issue 13): charts of a period as one album, a short summary under it.

    /stats                      the last 30 days
    /stats 7                    the last 7 days (up to 366)
    /stats 01.11.2026 30.11.2026   a period of local dates, both included
    /stats weekly on|off        this chat gets the previous week every Monday morning

In the staff chat or a private chat with the bot. Anyone else gets nothing: in the staff chat
the command is ignored, in a private chat it is an unknown command like any other.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role, User
from bot.filters import RoleFilter
from bot.i18n import current_locale
from bot.notifications.stats import WeeklyDigest, send_stats
from bot.services.stats import DEFAULT_DAYS, Period, StatsService

log = logging.getLogger(__name__)
MAX_DAYS = 366


class BadPeriod(ValueError):
    """The arguments of /stats are not a period."""


def _date(text: str) -> date:
    try:
        return datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        raise BadPeriod(text) from None


def parse_period(args: str | None, today: date) -> Period:
    parts = (args or "").split()
    if not parts:
        return Period.last_days(today, DEFAULT_DAYS)
    if len(parts) == 1 and parts[0].isdigit():
        days = int(parts[0])
        if not 1 <= days <= MAX_DAYS:
            raise BadPeriod(parts[0])
        return Period.last_days(today, days)
    if len(parts) in (1, 2):
        since = _date(parts[0])
        until = _date(parts[1]) if len(parts) == 2 else since
        if since > until or (until - since).days >= MAX_DAYS:
            raise BadPeriod(args or "")
        return Period(since, until)
    raise BadPeriod(args or "")


def usage() -> str:
    return _(
        "/stats — the last 30 days; /stats 7 — the last 7 days (up to 366); "
        "/stats 01.11.2026 30.11.2026 — a period, both days included."
    )


async def staff_place(event: TelegramObject, settings: Settings) -> bool:
    chat = getattr(event, "chat", None)
    return chat is not None and (
        chat.type == "private"
        or (settings.staff_chat_id is not None and chat.id == settings.staff_chat_id)
    )


async def stats_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    stats: StatsService,
    stats_digest: WeeklyDigest,
    db_user: User,
    bot: Bot,
) -> None:
    args = (command.args or "").split()
    if args and args[0].lower() == "weekly":
        await weekly(message, args[1:], session, stats_digest, db_user, current_locale())
        return
    try:
        period = parse_period(command.args, stats.today())
    except BadPeriod:
        await message.answer(_("I did not understand the period.") + "\n" + usage())
        return
    report = await stats.report(session, period)
    thread = message.message_thread_id if message.is_topic_message else None
    await send_stats(bot, message.chat.id, report, thread_id=thread)


async def weekly(
    message: Message,
    args: list[str],
    session: AsyncSession,
    digest: WeeklyDigest,
    db_user: User,
    language: str,
) -> None:
    """``/stats weekly on|off``: this chat gets (or stops getting) the Monday digest."""
    choice = args[0].lower() if args else ""
    if choice in ("on", "off"):
        await digest.set_weekly(
            session,
            message.chat.id,
            enabled=choice == "on",
            language=language,
            by=db_user.id,
        )
    row = await digest.subscription(session, message.chat.id)
    settings = digest.settings
    if row is not None and row.enabled:
        await message.answer(
            _(
                "📬 The weekly digest is on for this chat: every Monday morning (after "
                "{quiet_end}, {timezone}) the charts of the week before. /stats weekly off "
                "stops it."
            ).format(
                quiet_end=settings.quiet_hours_end.strftime("%H:%M"), timezone=settings.timezone
            )
        )
    else:
        await message.answer(
            _("📭 The weekly digest is off for this chat. /stats weekly on starts it.")
        )


async def ignore(message: Message) -> None:
    """A non-staff member of the staff chat: no answer at all."""


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(staff_place)
    router.message.register(stats_command, RoleFilter(Role.STAFF), Command("stats"))
    router.message.register(ignore, Command("stats"), F.chat.type != "private")
    return router
