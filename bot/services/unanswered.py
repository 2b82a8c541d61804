"""The unanswered-question loop (issue 12): the queue, its groups, staff answers, follow-ups.

* Every reply that was ``unsure``, ``out_of_scope`` or only an office routing, and every 👎,
  puts the question in ``unanswered_items`` (one row per question; :meth:`record`).
* :meth:`assign_groups` files new items under the open group they are most like (cosine of the
  question matcher's character n-gram vectors against the group's centroid: endings, typos
  and folded letters meet) or starts a group. It runs when staff look at the queue, not on
  the students' path. Groups staff called "not for us" keep absorbing their look-alikes, so
  the same question does not come back.
* Staff answer a group once (:meth:`publish_answer`): the answer becomes an FAQ entry whose
  variants are the group's questions, live at once in every process (the FAQ version row),
  and everyone who asked it in the last ``NOTIFY_DAYS`` days is queued one follow-up
  (``faq_notifications``, unique per group and user). "Answered by clause X"
  (:meth:`mark_clause`) stores the questions as clause examples the matcher answers from.
* :meth:`tick` (the worker's step) turns pending follow-ups into broadcasts outside quiet hours,
  leaving out students who switched announcements off in /reminders and those who blocked the
  bot; :mod:`bot.services.broadcast` delivers them (paced, at most once).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import LANGUAGES, Settings
from bot.db.base import utcnow
from bot.db.models import Question, User
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.faq import (
    FaqNotification,
    GroupStatus,
    QueueReason,
    UnansweredGroup,
    UnansweredItem,
)
from bot.db.models.groups import StudentProfile
from bot.i18n import use_locale
from bot.services.broadcast import BroadcastService
from bot.services.calendar import in_quiet_hours
from bot.services.faq import FaqService
from bot.workers import run_worker_loop
from knowledge.faq import FaqDataError, FaqEntry
from knowledge.qmatch import cosine

log = logging.getLogger(__name__)

KIND_REASONS = {
    "unsure": QueueReason.UNSURE,
    "out_of_scope": QueueReason.OUT_OF_SCOPE,
    "office": QueueReason.OFFICE,
}
GROUP_SIMILARITY = 0.45  # cosine to a group's centroid to join it
NOTIFY_DAYS = 14
GROUPS_PER_PAGE = 5
MAX_VARIANTS = 30  # questions of a group kept as the new entry's variants, per language
MAX_ANSWER_CHARS = 3000
DISMISSED_ABSORB_DAYS = 90


class GroupClosed(Exception):
    """The group was answered, dismissed or removed meanwhile (by someone else)."""


@dataclass(slots=True)
class GroupSummary:
    id: int
    status: str
    title: str
    count: int
    languages: list[str]
    first_at: datetime
    last_at: datetime
    examples: list[tuple[str, str]]  # (language, text)
    reasons: dict[str, int] = field(default_factory=dict)


def _centroid(vectors: list[dict[int, float]]) -> dict[int, float]:
    total: dict[int, float] = defaultdict(float)
    for vec in vectors:
        for f, v in vec.items():
            total[f] += v
    norm = math.sqrt(sum(v * v for v in total.values()))
    return {f: v / norm for f, v in total.items()} if norm else {}


class UnansweredService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        faq: FaqService,
        broadcasts: BroadcastService,
        *,
        now: Callable[[], datetime] = utcnow,
        interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.faq = faq
        self.broadcasts = broadcasts
        self.now = now
        self.interval = interval
        self.stopping = asyncio.Event()

    # --- the queue ---------------------------------------------------------------------------

    @staticmethod
    def queues(kind: str) -> bool:
        """Whether :meth:`record` queues a question answered with ``kind`` (no 👎 yet)."""
        return kind in KIND_REASONS

    async def record(
        self, session: AsyncSession, question: Question, *, reason: QueueReason | None = None
    ) -> bool:
        """Queue a question the bot could not answer well (or that got 👎). Returns whether it
        is in the queue now; idempotent per question (a 👎 later only changes the reason)."""
        if reason is None:
            reason = KIND_REASONS.get(question.kind)
            if reason is None:
                return False
        if reason is QueueReason.DISLIKED:  # the item may be there: it now says why
            existing = await session.scalar(
                select(UnansweredItem).where(UnansweredItem.question_id == question.id)
            )
            if existing is not None:
                existing.reason = reason.value
                return True
        # otherwise an item already there stays as it is (the insert does nothing)
        insert = pg_insert if self.settings.is_postgres else sqlite_insert
        await session.execute(
            insert(UnansweredItem)
            .values(
                question_id=question.id,
                user_id=question.user_id,
                text=question.text[:2000],
                language=question.language,
                reason=reason.value,
                created_at=question.created_at or self.now(),
            )
            .on_conflict_do_nothing(index_elements=["question_id"])
        )
        return True

    async def assign_groups(self, session: AsyncSession, *, limit: int = 2000) -> int:
        """File ungrouped items under the most similar open (or recently dismissed) group, or
        start new groups. Returns how many items were filed."""
        items = list(
            await session.scalars(
                select(UnansweredItem)
                .where(UnansweredItem.group_id.is_(None))
                .order_by(UnansweredItem.id)
                .limit(limit)
            )
        )
        if not items:
            return 0
        snap = self.faq.snapshot
        since = self.now() - timedelta(days=DISMISSED_ABSORB_DAYS)
        groups = list(
            await session.scalars(
                select(UnansweredGroup).where(
                    (UnansweredGroup.status == GroupStatus.OPEN.value)
                    | (
                        (UnansweredGroup.status == GroupStatus.DISMISSED.value)
                        & (UnansweredGroup.resolved_at >= since)
                    )
                )
            )
        )
        members: dict[int, list[dict[int, float]]] = defaultdict(list)
        if groups:
            rows = await session.execute(
                select(UnansweredItem.group_id, UnansweredItem.text)
                .where(UnansweredItem.group_id.in_([g.id for g in groups]))
                .order_by(UnansweredItem.id.desc())
            )
            for group_id, text in rows.all():
                if group_id is not None and len(members[group_id]) < 12:
                    members[group_id].append(snap.similarity_vector(text))
        centroids = {g.id: _centroid(members[g.id]) for g in groups}
        filed = 0
        for item in items:
            vec = snap.similarity_vector(item.text)
            best_id, best = None, 0.0
            for group_id, centroid in centroids.items():
                score = cosine(vec, centroid)
                if score > best:
                    best_id, best = group_id, score
            if best_id is None or best < GROUP_SIMILARITY:
                group = UnansweredGroup(title=item.text[:500], created_at=item.created_at)
                session.add(group)
                await session.flush()
                best_id = group.id
                members[best_id] = []
            members[best_id].append(vec)
            centroids[best_id] = _centroid(members[best_id][-12:])
            result = await session.execute(
                update(UnansweredItem)
                .where(UnansweredItem.id == item.id, UnansweredItem.group_id.is_(None))
                .values(group_id=best_id)
                .execution_options(synchronize_session=False)
            )
            filed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return filed

    async def open_groups(
        self, session: AsyncSession, *, page: int = 0, per_page: int = GROUPS_PER_PAGE
    ) -> tuple[list[GroupSummary], int, int]:
        """Open groups biggest first (then most recent): (page of summaries, groups, items)."""
        counted = (
            select(
                UnansweredItem.group_id.label("gid"),
                func.count(UnansweredItem.id).label("n"),
                func.max(UnansweredItem.created_at).label("last"),
            )
            .join(UnansweredGroup, UnansweredGroup.id == UnansweredItem.group_id)
            .where(UnansweredGroup.status == GroupStatus.OPEN.value)
            .group_by(UnansweredItem.group_id)
            .subquery()
        )
        totals = (
            await session.execute(select(func.count(), func.coalesce(func.sum(counted.c.n), 0)))
        ).one()
        ids = list(
            await session.scalars(
                select(counted.c.gid)
                .order_by(counted.c.n.desc(), counted.c.last.desc(), counted.c.gid)
                .offset(page * per_page)
                .limit(per_page)
            )
        )
        out = []
        for group_id in ids:
            summary = await self.summary(session, group_id)
            if summary is not None:
                out.append(summary)
        return out, int(totals[0]), int(totals[1])

    async def summary(self, session: AsyncSession, group_id: int) -> GroupSummary | None:
        group = await session.get(UnansweredGroup, group_id)
        if group is None:
            return None
        items = list(
            await session.scalars(
                select(UnansweredItem)
                .where(UnansweredItem.group_id == group_id)
                .order_by(UnansweredItem.created_at, UnansweredItem.id)
            )
        )
        if not items:
            return None
        languages = [lang for lang in LANGUAGES if any(i.language == lang for i in items)]
        examples: list[tuple[str, str]] = []
        seen: set[str] = set()
        # one example per language first, newest first, then any others
        for pass_langs in (True, False):
            for item in reversed(items):
                key = item.text.strip().lower()
                if key in seen or len(examples) >= 3:
                    continue
                if pass_langs and any(lang == item.language for lang, _t in examples):
                    continue
                seen.add(key)
                examples.append((item.language, item.text))
        return GroupSummary(
            id=group.id,
            status=group.status,
            title=group.title,
            count=len(items),
            languages=languages,
            first_at=items[0].created_at,
            last_at=items[-1].created_at,
            examples=examples,
            reasons=dict(Counter(i.reason for i in items)),
        )

    # --- staff decisions ---------------------------------------------------------------------

    async def _close(
        self,
        session: AsyncSession,
        group_id: int,
        status: GroupStatus,
        staff_id: int,
        **values: str | None,
    ) -> UnansweredGroup:
        result = await session.execute(
            update(UnansweredGroup)
            .where(
                UnansweredGroup.id == group_id, UnansweredGroup.status == GroupStatus.OPEN.value
            )
            .values(status=status.value, resolved_by=staff_id, resolved_at=self.now(), **values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise GroupClosed(str(group_id))
        group = await session.get(UnansweredGroup, group_id, populate_existing=True)
        assert group is not None
        return group

    async def _items(self, session: AsyncSession, group_id: int) -> list[UnansweredItem]:
        return list(
            await session.scalars(
                select(UnansweredItem)
                .where(UnansweredItem.group_id == group_id)
                .order_by(UnansweredItem.created_at, UnansweredItem.id)
            )
        )

    async def publish_answer(
        self,
        session: AsyncSession,
        group_id: int,
        *,
        answers: dict[str, str],
        office: str | None,
        staff_id: int,
    ) -> tuple[FaqEntry, int]:
        """Make the group's answer an FAQ entry (live once the caller commits) and queue the
        follow-ups. Returns the entry and how many students will be told."""
        answers = {
            lang: text.strip()[:MAX_ANSWER_CHARS]
            for lang, text in answers.items()
            if lang in LANGUAGES and text and text.strip()
        }
        if not answers:
            raise FaqDataError("an answer in at least one language is required")
        if office is not None and office not in self.faq.offices:
            raise FaqDataError(f"unknown office {office!r}")
        await self.assign_groups(session)  # the latest askers are in the group too
        key = await self.faq.next_key(session)
        group = await self._close(session, group_id, GroupStatus.ANSWERED, staff_id, faq_key=key)
        items = await self._items(session, group_id)
        by_lang: dict[str, list[str]] = defaultdict(list)
        for item in items:
            text = " ".join(item.text.split())[:500]
            if text and text.lower() not in {t.lower() for t in by_lang[item.language]}:
                by_lang[item.language].append(text)
        question = {lang: texts[0] for lang, texts in by_lang.items() if texts}
        entry = FaqEntry(
            key=key,
            question=question or {"en": group.title[:500]},
            answer=answers,
            variants={lang: tuple(texts[1 : MAX_VARIANTS + 1]) for lang, texts in by_lang.items()},
            office=office,
            tags=("staff",),
            clauses=(),
            to_confirm=False,
            source=f"Staff answer to unanswered group #{group.id}",
            confirmed_by="staff (/unanswered)",
            reviewed=self.now().date(),
            origin="staff",
        )
        await self.faq.save_entry(session, entry, created_by=staff_id)
        notified = await self._queue_followups(session, group, items)
        return entry, notified

    async def mark_clause(
        self, session: AsyncSession, group_id: int, clause_id: str, *, staff_id: int
    ) -> int:
        """ "Answered by clause X": the group's questions become clause examples the matcher
        answers from; the askers are told. Returns how many will be told."""
        if clause_id not in self.faq.answers.regulation:
            raise FaqDataError(f"no clause {clause_id!r} in Regulation No. 066")
        await self.assign_groups(session)
        group = await self._close(
            session, group_id, GroupStatus.CLAUSE, staff_id, clause_id=clause_id
        )
        items = await self._items(session, group_id)
        seen: set[tuple[str, str]] = set()
        for item in items:
            key = (item.language, item.text.strip().lower())
            if key in seen or len(seen) >= MAX_VARIANTS * 3:
                continue
            seen.add(key)
            await self.faq.add_clause_example(
                session,
                text=item.text,
                lang=item.language,
                clause_id=clause_id,
                group_id=group.id,
                created_by=staff_id,
            )
        return await self._queue_followups(session, group, items)

    async def dismiss(self, session: AsyncSession, group_id: int, *, staff_id: int) -> None:
        await self._close(session, group_id, GroupStatus.DISMISSED, staff_id)

    async def _queue_followups(
        self, session: AsyncSession, group: UnansweredGroup, items: list[UnansweredItem]
    ) -> int:
        since = self.now() - timedelta(days=NOTIFY_DAYS)
        latest: dict[int, UnansweredItem] = {}
        for item in items:
            if item.created_at >= since:
                latest[item.user_id] = item
        if not latest:
            return 0
        insert = pg_insert if self.settings.is_postgres else sqlite_insert
        result = await session.execute(
            insert(FaqNotification)
            .values(
                [
                    {
                        "group_id": group.id,
                        "user_id": user_id,
                        "language": item.language,
                        "status": "pending",
                        "created_at": self.now(),
                    }
                    for user_id, item in latest.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["group_id", "user_id"])
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- follow-ups --------------------------------------------------------------------------

    def render_followup(self, group: UnansweredGroup, lang: str) -> str | None:
        """The follow-up in ``lang`` (the caller sets the locale)."""
        intro = _(
            "💬 Some time ago you asked me a question I could not answer well. The university "
            "staff have answered it now:"
        )
        if group.status == GroupStatus.ANSWERED.value and group.faq_key:
            entry = self.faq.entries.get(group.faq_key)
            if entry is None:
                return None
            return self.faq.render_entry(entry, lang, intro=intro)[:4000]
        if group.status == GroupStatus.CLAUSE.value and group.clause_id:
            answers = self.faq.answers
            if group.clause_id not in answers.regulation:
                return None
            card = answers.clause_card(group.clause_id, lang, limit=3000)
            return (
                intro + "\n\n" + _("This clause of Regulation No. 066 answers it:") + "\n" + card
            )[:4000]
        return None

    async def tick(self, now: datetime | None = None) -> int:
        """Outside quiet hours, turn pending follow-ups into broadcasts (one per group and
        language). Returns how many deliveries were queued."""
        now = now or self.now()
        s = self.settings
        if in_quiet_hours(now, s.tz, s.quiet_hours_start, s.quiet_hours_end):
            return 0
        async with self.sessionmaker() as session:
            if (
                await session.scalar(
                    select(FaqNotification.id).where(FaqNotification.status == "pending").limit(1)
                )
                is None
            ):
                return 0
        await self.faq.refresh()  # the entry may have been published by another process
        queued = 0
        async with self.sessionmaker() as session, session.begin():
            query = (
                select(FaqNotification)
                .where(FaqNotification.status == "pending")
                .order_by(FaqNotification.id)
                .limit(500)
            )
            if s.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list(await session.scalars(query))
            batches: dict[tuple[int, str], list[FaqNotification]] = defaultdict(list)
            for note in rows:
                user = await session.get(User, note.user_id)
                profile = await session.get(StudentProfile, note.user_id)
                if (
                    user is None
                    or not user.is_active
                    or (profile is not None and not profile.remind_announcements)
                ):
                    note.status = "skipped"
                    continue
                lang = user.language if user.language in LANGUAGES else note.language
                batches[(note.group_id, lang)].append(note)
            for (group_id, lang), notes in batches.items():
                group = await session.get(UnansweredGroup, group_id)
                text = None
                if group is not None:
                    with use_locale(self.faq.i18n, lang):
                        text = self.render_followup(group, lang)
                if text is None:
                    for note in notes:
                        note.status = "skipped"
                    continue
                broadcast = Broadcast(
                    kind="faq",
                    text=text,
                    audience={"faq_group": group_id},
                    status="sending",
                    total=len(notes),
                    started_at=now,
                )
                session.add(broadcast)
                await session.flush()
                session.add_all(
                    BroadcastDelivery(
                        broadcast_id=broadcast.id,
                        user_id=note.user_id,
                        language=lang,
                        status="pending",
                        attempts=0,
                    )
                    for note in notes
                )
                for note in notes:
                    note.status = "queued"
                    note.broadcast_id = broadcast.id
                    note.queued_at = now
                queued += len(notes)
        if queued:
            self.broadcasts.wake()
        return queued

    async def run_forever(self, bot: Bot) -> None:
        await run_worker_loop(
            lambda: self.tick(),
            stopping=self.stopping,
            interval=self.interval,
            what="FAQ follow-up tick",
        )

    def request_stop(self) -> None:
        self.stopping.set()


__all__ = [
    "GROUPS_PER_PAGE",
    "NOTIFY_DAYS",
    "GroupClosed",
    "GroupSummary",
    "UnansweredService",
]
