"""/stats (staff and admins; issue 13): charts of a period as one album, a short summary under it.

    /stats                      the last 30 days
    /stats 7                    the last 7 days (up to 366)
    /stats 01.11.2026 30.11.2026   a period of local dates, both included

In the staff chat or a private chat with the bot. Anyone else gets nothing: in the staff chat
the command is ignored, in a private chat it is an unknown command like any other.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from aiogram import F, Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role
from bot.filters import RoleFilter
from bot.services.stats import DEFAULT_DAYS, Period, StatsService
from bot.views.stats_text import no_data_text, summary_text

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


async def send_report(message: Message, stats: StatsService, session: AsyncSession,
                      period: Period) -> None:
    report = await stats.report(session, period)
    if report.is_empty:
        await message.answer(no_data_text(period))
        return
    await message.bot.send_chat_action(  # type: ignore[union-attr]
        message.chat.id, ChatAction.UPLOAD_PHOTO, message_thread_id=message.message_thread_id
    )
    from bot.views.stats_charts import draw_charts  # matplotlib only once someone asks

    charts = await asyncio.to_thread(draw_charts, report)  # the locale travels with the context
    caption = summary_text(report)
    if len(charts) == 1:
        chart = charts[0]
        await message.answer_photo(BufferedInputFile(chart.png, chart.filename), caption=caption)
        return
    await message.answer_media_group(
        [
            InputMediaPhoto(
                media=BufferedInputFile(chart.png, chart.filename),
                caption=caption if i == 0 else None,
            )
            for i, chart in enumerate(charts)
        ]
    )


async def stats_command(
    message: Message, command: CommandObject, session: AsyncSession, stats: StatsService
) -> None:
    try:
        period = parse_period(command.args, stats.today())
    except BadPeriod:
        await message.answer(_("I did not understand the period.") + "\n" + usage())
        return
    await send_report(message, stats, session, period)


async def ignore(message: Message) -> None:
    """A non-staff member of the staff chat: no answer at all."""


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(staff_place)
    router.message.register(stats_command, RoleFilter(Role.STAFF), Command("stats"))
    router.message.register(ignore, Command("stats"), F.chat.type != "private")
    return router
