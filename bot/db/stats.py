"""Issue 13: the aggregation queries behind /stats and ``studentbot stats`` (SQLAlchemy Core).

Every query counts in SQL and returns small rows (a few hundred at most), except the tickets
and decisions of the period, which are read as a handful of columns each to compute working-
hours medians in Python. Days and weeks are local (``TIMEZONE``), bucketed by
:class:`bot.db.buckets.Buckets`. Nothing here returns a name, an id of a person or a text,
except :meth:`StatsRepository.unanswered_examples`, which reads question texts that the service
anonymises (rows of users who used /forget are gone: their questions were deleted with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, func, intersect, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.buckets import Buckets
from bot.db.models import Question, User
from bot.db.models.applications import Application, ApplicationEvent
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.faq import UnansweredItem
from bot.db.models.helpdesk import Ticket
from bot.db.models.stats import WizardRun

DECISIONS = ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class TicketRow:
    topic: str
    created_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    rating: int | None


class StatsRepository:
    """Aggregations over one period ``[start, end)`` (UTC) with local buckets in ``tz``."""

    def __init__(self, session: AsyncSession, tz: ZoneInfo, start: datetime, end: datetime):
        self.session = session
        self.start = start
        self.end = end
        dialect = session.get_bind().dialect.name
        self.buckets = Buckets(dialect, tz, start, end)

    def _in(self, column: Any) -> Any:
        return and_(column >= self.start, column < self.end)

    # questions -----------------------------------------------------------------------------
    async def questions_by_day(self) -> list[tuple[date, str, str, int]]:
        """(local day, language, answer kind, count)."""
        day = self.buckets.day(Question.created_at).label("day")
        rows = await self.session.execute(
            select(day, Question.language, Question.kind, func.count())
            .where(self._in(Question.created_at))
            .group_by(day, Question.language, Question.kind)
        )
        return [(self.buckets.day_of(d), lang, kind, int(n)) for d, lang, kind, n in rows]

    async def questions_by_answer(self) -> list[tuple[str, str | None, str | None, int, int, int]]:
        """(kind, the clause cited first, the FAQ entry, count, 👍, 👎), one scan."""
        clause = Question.top_clause
        up = func.sum(case((Question.feedback > 0, 1), else_=0))
        down = func.sum(case((Question.feedback < 0, 1), else_=0))
        rows = await self.session.execute(
            select(Question.kind, clause, Question.faq_key, func.count(), up, down)
            .where(self._in(Question.created_at))
            .group_by(Question.kind, clause, Question.faq_key)
        )
        return [(kind, c, key, int(n), int(u or 0), int(d or 0)) for kind, c, key, n, u, d in rows]

    async def askers(self) -> tuple[int, int]:
        """(people who asked, of them those who also opened a helpdesk request) in the period.

        The second is the size of an INTERSECT of two sets of ids: a hashed set operation on
        both databases (a correlated EXISTS per ticket was planned by PostgreSQL, now and then,
        as a scan of the questions per ticket: a minute and more)."""
        total = await self.session.scalar(
            select(func.count(distinct(Question.user_id))).where(self._in(Question.created_at))
        )
        both = intersect(
            select(Ticket.user_id).where(self._in(Ticket.created_at)),
            select(Question.user_id).where(self._in(Question.created_at)),
        ).subquery()
        escalated = await self.session.scalar(select(func.count()).select_from(both))
        return int(total or 0), int(escalated or 0)

    async def unanswered_groups(self, limit: int) -> list[tuple[int, int, int]]:
        """(group id, questions asked in the period, the newest such question's id)."""
        count = func.count().label("n")
        rows = await self.session.execute(
            select(UnansweredItem.group_id, count, func.max(UnansweredItem.question_id))
            .where(self._in(UnansweredItem.created_at), UnansweredItem.group_id.is_not(None))
            .group_by(UnansweredItem.group_id)
            .order_by(count.desc(), UnansweredItem.group_id)
            .limit(limit)
        )
        return [(int(g or 0), int(n), int(q)) for g, n, q in rows]

    async def unanswered_examples(self, question_ids: list[int]) -> dict[int, tuple[str, str]]:
        """question id -> (text, language) of questions still stored (not /forgotten)."""
        if not question_ids:
            return {}
        rows = await self.session.execute(
            select(UnansweredItem.question_id, UnansweredItem.text, UnansweredItem.language).where(
                UnansweredItem.question_id.in_(question_ids)
            )
        )
        return {int(q or 0): (text, lang) for q, text, lang in rows}

    # helpdesk ------------------------------------------------------------------------------
    async def tickets(self) -> list[TicketRow]:
        rows = await self.session.execute(
            select(
                Ticket.topic,
                Ticket.created_at,
                Ticket.first_response_at,
                Ticket.closed_at,
                Ticket.rating,
            ).where(self._in(Ticket.created_at))
        )
        return [TicketRow(*row) for row in rows]

    # applications --------------------------------------------------------------------------
    async def applications(self) -> list[tuple[str, str, int]]:
        """(kind, status now, count) of applications submitted in the period."""
        rows = await self.session.execute(
            select(Application.kind, Application.status, func.count())
            .where(self._in(Application.created_at))
            .group_by(Application.kind, Application.status)
        )
        return [(kind, status, int(n)) for kind, status, n in rows]

    async def decisions(self) -> list[tuple[str, datetime, datetime]]:
        """(kind, submitted at, first approved/rejected at) of the period's decided ones."""
        decided = func.min(ApplicationEvent.created_at)
        rows = await self.session.execute(
            select(Application.kind, Application.created_at, decided)
            .join(ApplicationEvent, ApplicationEvent.application_id == Application.id)
            .where(self._in(Application.created_at), ApplicationEvent.status.in_(DECISIONS))
            .group_by(Application.id, Application.kind, Application.created_at)
        )
        return [(kind, created, at) for kind, created, at in rows]

    async def wizard_runs(self, idle_before: datetime) -> list[tuple[str | None, str, str, int]]:
        """(kind, step, state, count) of the wizards started in the period; state is
        ``submitted``, ``abandoned`` (left, or idle since before ``idle_before``) or ``active``."""
        state = case(
            (WizardRun.outcome == "submitted", literal("submitted")),
            (WizardRun.outcome.is_not(None), literal("abandoned")),
            (WizardRun.updated_at < idle_before, literal("abandoned")),
            else_=literal("active"),
        ).label("state")
        rows = await self.session.execute(
            select(WizardRun.kind, WizardRun.step, state, func.count())
            .where(self._in(WizardRun.started_at))
            .group_by(WizardRun.kind, WizardRun.step, state)
        )
        return [(kind, step, st, int(n)) for kind, step, st, n in rows]

    # broadcasts ----------------------------------------------------------------------------
    async def broadcasts(self) -> list[tuple[int, str, datetime, int, str, int]]:
        """(broadcast id, kind, created at, total, delivery status, count)."""
        rows = await self.session.execute(
            select(
                Broadcast.id,
                Broadcast.kind,
                Broadcast.created_at,
                Broadcast.total,
                BroadcastDelivery.status,
                func.count(BroadcastDelivery.id),
            )
            .outerjoin(BroadcastDelivery, BroadcastDelivery.broadcast_id == Broadcast.id)
            .where(self._in(Broadcast.created_at))
            .group_by(
                Broadcast.id,
                Broadcast.kind,
                Broadcast.created_at,
                Broadcast.total,
                BroadcastDelivery.status,
            )
        )
        return [(int(i), k, at, int(t or 0), s or "", int(n)) for i, k, at, t, s, n in rows]

    # users ---------------------------------------------------------------------------------
    async def new_users(self) -> list[tuple[date, str, str, int]]:
        """(local week, role, language, users who first wrote that week)."""
        week = self.buckets.week(User.created_at).label("week")
        language = func.coalesce(User.language, "?").label("language")
        rows = await self.session.execute(
            select(week, User.role, language, func.count())
            .where(self._in(User.created_at))
            .group_by(week, User.role, language)
        )
        return [(self.buckets.week_of(w), role, lang, int(n)) for w, role, lang, n in rows]

    async def active_users(self) -> list[tuple[date, str, str, int]]:
        """(local week, role, language, users who asked, opened a request or applied)."""
        weekly = union(
            select(
                Question.user_id.label("user_id"),
                self.buckets.week(Question.created_at).label("week"),
            ).where(self._in(Question.created_at)),
            select(Ticket.user_id, self.buckets.week(Ticket.created_at)).where(
                self._in(Ticket.created_at)
            ),
            select(Application.user_id, self.buckets.week(Application.created_at)).where(
                self._in(Application.created_at), Application.user_id.is_not(None)
            ),
        ).subquery()
        language = func.coalesce(User.language, "?")
        rows = await self.session.execute(
            select(weekly.c.week, User.role, language, func.count())
            .join(User, User.id == weekly.c.user_id)
            .group_by(weekly.c.week, User.role, language)
        )
        return [(self.buckets.week_of(w), role, lang, int(n)) for w, role, lang, n in rows]
