"""Issue 13: statistics delivered to a chat — on demand (/stats) and as the weekly digest.

:func:`send_stats` draws the charts (in a worker thread; the locale travels with the context)
and sends them as one album with the summary as the first photo's caption (one photo alone,
when only one section has data; the "no data" text when none has).

:class:`WeeklyDigest` is a background worker (``run_forever``): on Monday morning in
``TIMEZONE`` — from the end of quiet hours until noon, never within quiet hours — each chat that
said ``/stats weekly on`` gets the previous week (Monday to Sunday). A chat's row is claimed
for the week with one conditional UPDATE before anything is sent, so of several processes
exactly one posts it, once; a digest that fails to send is logged, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, time, timedelta

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile, InputMediaPhoto
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.base import utcnow
from bot.db.buckets import monday
from bot.db.models.stats import StatsDigest
from bot.i18n import use_locale
from bot.services.calendar import in_quiet_hours
from bot.services.stats import Period, StatsReport, StatsService
from bot.views.stats_text import no_data_text, summary_text
from bot.workers import run_worker_loop

log = logging.getLogger(__name__)
DIGEST_BEFORE = time(12, 0)  # "Monday morning": until noon, local time


async def send_stats(
    bot: Bot,
    chat_id: int,
    report: StatsReport,
    *,
    thread_id: int | None = None,
    title: str | None = None,
) -> None:
    """The report in the current locale: the album, one photo, or the "no data" text."""
    if report.is_empty:
        await bot.send_message(chat_id, no_data_text(report.period), message_thread_id=thread_id)
        return
    with contextlib.suppress(TelegramAPIError):
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO, message_thread_id=thread_id)
    from bot.views.stats_charts import draw_charts  # matplotlib only once someone asks

    charts = await asyncio.to_thread(draw_charts, report)
    caption = summary_text(report, title=title)
    if len(charts) == 1:
        chart = charts[0]
        await bot.send_photo(
            chat_id,
            BufferedInputFile(chart.png, chart.filename),
            caption=caption,
            message_thread_id=thread_id,
        )
        return
    await bot.send_media_group(
        chat_id,
        [
            InputMediaPhoto(
                media=BufferedInputFile(chart.png, chart.filename),
                caption=caption if i == 0 else None,
            )
            for i, chart in enumerate(charts)
        ],
        message_thread_id=thread_id,
    )


class WeeklyDigest:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        stats: StatsService,
        *,
        poll_seconds: float = 300.0,
        i18n: I18n,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.stats = stats
        self.poll_seconds = poll_seconds
        self.stopping = asyncio.Event()
        self.i18n = i18n  # the process's one I18n (bot.app.AppContext.i18n)

    def now(self) -> datetime:
        return utcnow()

    # opting in and out ---------------------------------------------------------------------
    async def subscription(self, session: AsyncSession, chat_id: int) -> StatsDigest | None:
        return await session.get(StatsDigest, chat_id)

    async def set_weekly(
        self, session: AsyncSession, chat_id: int, *, enabled: bool, language: str, by: int
    ) -> StatsDigest:
        row = await session.get(StatsDigest, chat_id)
        if row is None:
            row = StatsDigest(chat_id=chat_id, language=language)
            session.add(row)
        row.enabled = enabled
        row.language = language
        row.updated_by = by
        row.updated_at = self.now()
        await session.flush()
        return row

    # the worker ----------------------------------------------------------------------------
    def due(self, now: datetime) -> bool:
        """Monday morning in TIMEZONE and not within quiet hours."""
        s = self.settings
        local = now.astimezone(s.tz)
        return (
            local.weekday() == 0
            and local.time() < DIGEST_BEFORE
            and not in_quiet_hours(now, s.tz, s.quiet_hours_start, s.quiet_hours_end)
        )

    async def post_due(self, bot: Bot, now: datetime | None = None) -> list[int]:
        """Post last week's digest to every subscribed chat that has not had it; the chats."""
        now = now or self.now()
        if not self.due(now):
            return []
        this_monday = monday(now.astimezone(self.settings.tz).date())
        period = Period(this_monday - timedelta(days=7), this_monday - timedelta(days=1))
        posted: list[int] = []
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(StatsDigest).where(
                        StatsDigest.enabled.is_(True),
                        or_(StatsDigest.last_week.is_(None), StatsDigest.last_week < this_monday),
                    )
                )
            ).all()
            targets = [(r.chat_id, r.language) for r in rows]
        for chat_id, language in targets:
            async with self.sessionmaker() as session:
                claimed = await session.execute(
                    update(StatsDigest)
                    .where(
                        StatsDigest.chat_id == chat_id,
                        StatsDigest.enabled.is_(True),
                        or_(StatsDigest.last_week.is_(None), StatsDigest.last_week < this_monday),
                    )
                    .values(last_week=this_monday)
                )
                await session.commit()
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    continue  # another process has it
                report = await self.stats.report(session, period)
            try:
                with use_locale(self.i18n, language):
                    await send_stats(bot, chat_id, report, title=_("📊 Weekly digest"))
                posted.append(chat_id)
            except TelegramAPIError as exc:
                log.warning("could not post the weekly digest to %s: %s", chat_id, exc)
        return posted

    async def run_forever(self, bot: Bot) -> None:
        await run_worker_loop(
            lambda: self.post_due(bot),
            stopping=self.stopping,
            interval=self.poll_seconds,
            what="weekly statistics digest",
        )

    def request_stop(self) -> None:
        self.stopping.set()
