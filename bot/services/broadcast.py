"""Broadcast delivery: audiences, one durable delivery row per recipient, paced sending.

Delivery guarantee: **at most once**. A delivery row is claimed (``pending -> sending``, with a
lease) and committed *before* the Bot API call, and marked ``sent`` after it. Rows are claimed
in batches (``claim_batch``, one round trip) and sent rows are marked in batches too. A process
that dies between claim and mark leaves the row in ``sending``; when its lease expires the row
becomes ``unknown`` and is *not* sent again. We chose this because a duplicate announcement or
reminder is visible to every affected student, while the rows that can end ``unknown`` are at
most the few claimed or sent but not yet marked at the crash (about two batches); the final
report counts them, so the sender can follow up. Rows claimed but not sent at a clean shutdown
go back to ``pending``. Two processes never send the same row: claims are one atomic
``UPDATE … WHERE status = 'pending' … RETURNING`` whose candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers, and the status check makes
the update a no-op for a row someone else claimed).

Pacing: the bot's outgoing budget (:mod:`bot.budget`, on the bot's session, shared by every
process) sends broadcasts as ``BROADCAST`` and reminders as ``REMINDER``: they take what replies
leave, at most ``BROADCAST_RATE`` a second and one a second to a chat. ``TelegramRetryAfter``
pauses every worker for the time Telegram asks and puts the row back (no recursion, no lost
attempt); ``TelegramForbiddenError``
marks the row ``blocked`` and the user inactive; bad requests fail at once; other errors retry
with exponential backoff up to ``max_attempts`` and then count as ``failed``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.utils.i18n import I18n
from prometheus_client import Counter
from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.budget import SendClass, budget_of, sending_as
from bot.config import LANGUAGES, Settings
from bot.db.base import UTCDateTime, utcnow
from bot.db.models import Role, User
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.groups import CuratorGroup, GroupMember, StudentProfile
from bot.i18n import RUSSIAN_FALLBACK, language_from_telegram, make_i18n, use_locale
from bot.metrics import metrics
from bot.services.calendar import in_quiet_hours
from bot.views.broadcast import cancel_keyboard, progress_text

log = logging.getLogger(__name__)

# Where the delivery workers' time goes (/metrics and the budget benchmark): claiming rows and
# marking them in the database, and sending (which includes waiting for the outgoing budget:
# ``studentbot_budget_wait_seconds``).
WORKER_SECONDS = Counter(
    "studentbot_broadcast_worker_seconds",
    "Seconds broadcast delivery workers spent, by step (claim, send, mark; claim_round_trip:"
    " the claims themselves, partly in the background)",
    ["step"],
    registry=metrics.registry,
)
CLAIMS = Counter(
    "studentbot_broadcast_claims",
    "Database round trips that claimed delivery rows, and the rows they claimed",
    ["what"],
    registry=metrics.registry,
)

D = BroadcastDelivery
FINAL = ("sent", "failed", "blocked", "unknown", "cancelled")
# Kinds whose deliveries wait out quiet hours even when queued before they began (a curator's
# broadcast is sent when the curator says so; quiet-hours «Send now» asks first).
HELD_IN_QUIET_HOURS = ("reminder", "faq")
SEGMENT_KEYS = ("faculty", "programme", "course_year", "study_form", "language")


class AudienceNotAllowed(Exception):
    """A curator tried to reach students outside their own groups."""


# Pacing ---------------------------------------------------------------------------------------


class PauseGate:
    """A pause every delivery worker of this process obeys (Telegram's ``retry_after``).

    The pace itself (the bot's overall budget, one message a second per chat, replies first)
    is kept by :class:`bot.budget.OutgoingBudget` on the bot's session, shared by all
    processes; this gate only stops this process's workers from claiming rows meanwhile.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.paused_until = 0.0

    async def wait(self) -> None:
        while (wait := self.paused_until - self.clock()) > 0:
            await self.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


# Audiences ------------------------------------------------------------------------------------


def audience_condition(audience: dict[str, Any]) -> ColumnElement[bool]:
    """Users matching a stored audience (students of groups and/or profile segments)."""
    conds: list[ColumnElement[bool]] = [User.is_active.is_(True)]
    groups = audience.get("groups")
    roles = audience.get("roles") or ([] if groups else [Role.STUDENT.value])
    if roles:  # a group's members are its audience whatever their role (a co-curator too)
        conds.append(User.role.in_(roles))
    if groups:
        conds.append(
            User.id.in_(select(GroupMember.user_id).where(GroupMember.group_id.in_(groups)))
        )
    profile_conds: list[ColumnElement[bool]] = []
    for key in ("faculty", "programme"):
        if audience.get(key):
            column = getattr(StudentProfile, key)
            profile_conds.append(func.lower(column) == str(audience[key]).lower())
    if audience.get("course_year"):
        profile_conds.append(StudentProfile.course_year == int(audience["course_year"]))
    if audience.get("study_form"):
        profile_conds.append(StudentProfile.study_form == audience["study_form"])
    pref = audience.get("pref")
    if pref in ("remind_deadlines", "remind_orientation", "remind_announcements"):
        # No profile row means the defaults: everything on.
        conds.append(
            ~User.id.in_(
                select(StudentProfile.user_id).where(getattr(StudentProfile, pref).is_(False))
            )
        )
    if profile_conds:
        conds.append(User.id.in_(select(StudentProfile.user_id).where(and_(*profile_conds))))
    if audience.get("language"):
        conds.append(User.language == audience["language"])
    return and_(*conds)


async def curator_group_ids(session: AsyncSession, curator_id: int) -> list[int]:
    rows = await session.scalars(
        select(CuratorGroup.id).where(CuratorGroup.curator_id == curator_id)
    )
    return list(rows)


async def check_audience(session: AsyncSession, sender: User, audience: dict[str, Any]) -> None:
    """Staff and admins reach any segment; a curator only students of their own groups."""
    if sender.role in (Role.STAFF.value, Role.ADMIN.value):
        return
    if sender.role != Role.CURATOR.value:
        raise AudienceNotAllowed("only curators and staff send broadcasts")
    groups = audience.get("groups") or []
    own = set(await curator_group_ids(session, sender.id))
    if not groups or not set(groups) <= own or audience.get("roles"):
        raise AudienceNotAllowed("a curator can reach only the students of their own groups")


async def count_audience(session: AsyncSession, audience: dict[str, Any]) -> int:
    """Recipients of a curator or staff message to ``audience`` (announcements switched on)."""
    audience = {**audience, "pref": audience.get("pref", "remind_announcements")}
    return int(
        await session.scalar(
            select(func.count()).select_from(User).where(audience_condition(audience))
        )
        or 0
    )


async def fan_out(session: AsyncSession, broadcast: Broadcast, default_language: str) -> int:
    """One pending delivery row per recipient (idempotent: the unique key skips repeats)."""
    already = set(await session.scalars(select(D.user_id).where(D.broadcast_id == broadcast.id)))
    tg_lang = func.lower(func.substr(User.telegram_language, 1, 2))
    language = func.coalesce(
        User.language,
        case(
            (tg_lang.in_(LANGUAGES), tg_lang),
            (tg_lang.in_(sorted(RUSSIAN_FALLBACK)), "ru"),
            (User.telegram_language.is_not(None), "en"),
            else_=default_language,
        ),
    )
    query = select(
        literal(broadcast.id),
        User.id,
        language,
        literal("pending"),
        literal(0),
    ).where(audience_condition(broadcast.audience))
    if already:
        query = query.where(User.id.not_in(already))
    await session.execute(
        insert(D).from_select(["broadcast_id", "user_id", "language", "status", "attempts"], query)
    )
    total = await session.scalar(select(func.count()).where(D.broadcast_id == broadcast.id))
    broadcast.total = int(total or 0)
    broadcast.status = "sending"
    broadcast.started_at = broadcast.started_at or utcnow()
    return broadcast.total


async def create_broadcast(
    session: AsyncSession,
    *,
    sender: User,
    text: str,
    audience: dict[str, Any],
    media_kind: str | None = None,
    media_file_id: str | None = None,
    scheduled_at: datetime | None = None,
    default_language: str = "kk",
) -> Broadcast:
    """Checks the sender's right to the audience; sends now (fans out) or schedules."""
    await check_audience(session, sender, audience)
    # Students who switched announcements off in /reminders are left out.
    audience = {**audience, "pref": "remind_announcements"}
    broadcast = Broadcast(
        kind="message",
        sender_id=sender.id,
        text=text,
        media_kind=media_kind,
        media_file_id=media_file_id,
        audience=audience,
        status="scheduled",
        scheduled_at=scheduled_at,
    )
    session.add(broadcast)
    await session.flush()
    if scheduled_at is None:
        await fan_out(session, broadcast, default_language)
    return broadcast


async def counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(D.status, func.count()).where(D.broadcast_id == broadcast_id).group_by(D.status)
    )
    return {status: int(n) for status, n in rows.all()}


# Delivery -------------------------------------------------------------------------------------


@dataclass
class _Content:
    kind: str
    text: str
    media_kind: str | None
    media_file_id: str | None
    reminder_job_id: int | None
    rendered: dict[str, str] = field(default_factory=dict)


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retry_after: int = 0
    retried: int = 0


ReminderRenderer = Callable[[AsyncSession, int, str], Awaitable[str]]
# A claimed delivery row: id, broadcast, user, language, attempts.
Claimed = tuple[int, int, int, str | None, int]


class BroadcastService:
    """Background worker (``run_forever``) and the steps tests call directly (``step``)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        concurrency: int | None = None,
        claim_batch: int | None = None,
        lease: timedelta = timedelta(seconds=90),
        request_timeout: int = 30,
        max_attempts: int = 3,
        backoff: float = 2.0,
        progress_interval: float = 5.0,
        idle_interval: float = 1.0,
        max_idle_backoff: float = 60.0,
        sender_lease: timedelta = timedelta(seconds=60),
        i18n: I18n | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self.gate = PauseGate(clock=clock, sleep=sleep)
        # Sends in flight: each waits for a claim, the Bot API and a mark (database round
        # trips), so PostgreSQL needs more of them to keep up with the budget; SQLite has one
        # writer at a time anyway.
        self.concurrency = concurrency or (16 if settings.is_postgres else 4)
        # Rows claimed in one round trip, and sent rows marked in one: a database round trip
        # per row each way cost as much worker time as the budget's pace (0.2 s each on a busy
        # machine, 0.6 s a claim when the machine was starved). A crash leaves at most about
        # this many more rows ``unknown`` (never sent twice).
        self.claim_batch = claim_batch or 2 * self.concurrency
        self._claimed: collections.deque[Claimed] = collections.deque()
        self._refilling: asyncio.Task[int] | None = None
        self._sent: list[tuple[int, datetime]] = []
        self._batching = False
        self.lease = lease
        self.request_timeout = request_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.progress_interval = progress_interval
        self.idle_interval = idle_interval
        self.max_idle_backoff = max_idle_backoff
        self.stats = DeliveryStats()
        self.reminder_renderer: ReminderRenderer | None = None
        self._i18n = i18n  # the process's one I18n (bot.app.AppContext.i18n); else made once
        self._content: dict[int, _Content] = {}
        self._wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self._last_progress: dict[int, float] = {}
        # One sender per broadcast: the broadcasts this process holds the lease of.
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sender_lease = sender_lease
        self.held: set[int] = set()
        self._held_checked: float | None = None
        self._lease_lock = asyncio.Lock()

    @property
    def i18n(self) -> I18n:
        if self._i18n is None:
            self._i18n = make_i18n(self.settings.default_language)
        return self._i18n

    def wake(self) -> None:
        """A new broadcast is ready: the idle worker starts at once."""
        self._wake.set()

    def request_stop(self) -> None:
        """Shutdown: finish the delivery in hand, claim no more, and leave ``run_forever``."""
        self.stopping.set()
        self._wake.set()

    # The worker -----------------------------------------------------------------------------

    async def run_forever(self, bot: Bot) -> None:
        """Step until asked to stop. A failing step (the database is down) is logged once per
        outage, with its traceback, and retried after a wait that doubles up to a minute."""
        failures = 0
        while not self.stopping.is_set():
            try:
                worked = await self.step(bot)
            except asyncio.CancelledError:
                raise
            except Exception:
                if failures == 0:
                    log.exception("broadcast delivery failed; retrying quietly with backoff")
                failures += 1
                worked = 0
            else:
                if failures:
                    log.info("broadcast delivery works again after %d failed attempts", failures)
                failures = 0
            if not worked and not self.stopping.is_set():
                wait = self.idle_interval
                if failures:
                    wait = min(self.idle_interval * 2 ** (failures - 1), self.max_idle_backoff)
                await self._idle(wait)
        if self.held:  # hand this process's broadcasts over at once, not after the lease
            try:
                await self.release_leases()
            except Exception as exc:
                log.info("broadcast leases not released (they expire by themselves): %s", exc)

    async def _idle(self, seconds: float) -> None:
        """Wait ``seconds`` or until :meth:`wake` (tests replace it to see the waits)."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def step(self, bot: Bot) -> int:
        """Recover expired leases, start due scheduled broadcasts, deliver what is claimable,
        finish broadcasts with nothing left. Returns how many rows were handled."""
        await self.recover()
        await self.start_due()
        await self.hold_leases()
        handled = await self.deliver(bot)
        await self.finish(bot)
        return handled

    # One sender per broadcast -----------------------------------------------------------------

    def _free(self, now: datetime) -> ColumnElement[bool]:
        """A broadcast nobody sends, or whose sender stopped renewing (it died)."""
        return or_(
            Broadcast.sender_owner.is_(None),
            Broadcast.sender_lease_until.is_(None),
            Broadcast.sender_lease_until < now,
        )

    async def hold_leases(self) -> set[int]:
        """Renew this process's broadcast leases and take the free ones (none sends them).

        Only the holder claims a broadcast's rows and edits its progress message, so its counts
        never go backwards and two processes do not race on one broadcast (the pace is the
        bot's shared budget either way). A broadcast started while this process is busy is
        taken by an idle one at its next step. Returns the broadcasts held."""
        now = self.now()
        until = now + self.sender_lease
        async with self.sessionmaker() as session, session.begin():
            # Read first: an idle worker must not take SQLite's write lock every second.
            sending = select(Broadcast.id).where(Broadcast.status == "sending").limit(1)
            if await session.scalar(sending) is None:
                self.held = set()
                self._held_checked = self.clock()
                return self.held
            mine = set(
                await session.scalars(
                    update(Broadcast)
                    .where(Broadcast.status == "sending", Broadcast.sender_owner == self.owner)
                    .values(sender_lease_until=until)
                    .returning(Broadcast.id)
                    .execution_options(synchronize_session=False)
                )
            )
            free = select(Broadcast.id).where(Broadcast.status == "sending", self._free(now))
            if self.settings.is_postgres:
                free = free.with_for_update(skip_locked=True)
            candidates = list(await session.scalars(free))
            if candidates:
                mine |= set(
                    await session.scalars(
                        update(Broadcast)
                        .where(Broadcast.id.in_(candidates), self._free(now))
                        .values(sender_owner=self.owner, sender_lease_until=until)
                        .returning(Broadcast.id)
                        .execution_options(synchronize_session=False)
                    )
                )
        self.held = mine
        self._held_checked = self.clock()
        return mine

    async def _renew_leases_if_due(self) -> None:
        renew_every = self.sender_lease.total_seconds() / 3
        async with self._lease_lock:  # the workers and the progress task share one renewal
            if self._held_checked is None or self.clock() - self._held_checked >= renew_every:
                await self.hold_leases()

    async def release_leases(self) -> None:
        """Shutdown: another process may take this one's broadcasts over at once."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(Broadcast)
                .where(Broadcast.sender_owner == self.owner)
                .values(sender_owner=None, sender_lease_until=None)
                .execution_options(synchronize_session=False)
            )
        self.held = set()

    async def drain(self, bot: Bot, *, max_steps: int = 1000) -> None:
        """Tests and the benchmark: step until no delivery is pending (sleeping for backoff)."""
        for _step in range(max_steps):
            await self.step(bot)
            async with self.sessionmaker() as session:
                left = await session.scalar(
                    select(func.count())
                    .select_from(D)
                    .join(Broadcast, Broadcast.id == D.broadcast_id)
                    .where(D.status.in_(("pending", "sending")), Broadcast.status == "sending")
                )
            if not left:
                return
            if await self._only_held_for_quiet_hours():
                raise RuntimeError(
                    f"broadcasts did not drain: {left} deliveries wait for the end of quiet hours"
                    " (set the service's clock to a daytime moment)"
                )
            await self.sleep(self.backoff)
        raise RuntimeError("broadcasts did not drain")

    async def _only_held_for_quiet_hours(self) -> bool:
        """True when every delivery left belongs to a kind that quiet hours hold right now."""
        if not in_quiet_hours(
            self.now(),
            self.settings.tz,
            self.settings.quiet_hours_start,
            self.settings.quiet_hours_end,
        ):
            return False
        async with self.sessionmaker() as session:
            movable = await session.scalar(
                select(func.count())
                .select_from(D)
                .join(Broadcast, Broadcast.id == D.broadcast_id)
                .where(
                    D.status.in_(("pending", "sending")),
                    Broadcast.status == "sending",
                    Broadcast.kind.notin_(HELD_IN_QUIET_HOURS),
                )
            )
        return not movable

    async def recover(self) -> int:
        """Rows left ``sending`` by a dead process, lease expired: ``unknown`` (at most once)."""
        expired = (D.status == "sending", D.lease_until < self.now())
        async with self.sessionmaker() as session, session.begin():
            if await session.scalar(select(D.id).where(*expired).limit(1)) is None:
                return 0
            result = await session.execute(
                update(D)
                .where(*expired)
                .values(status="unknown", lease_until=None, error="lease expired (crash?)")
                .execution_options(synchronize_session=False)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def start_due(self) -> int:
        """Scheduled broadcasts whose time came: claimed by one process and fanned out."""
        started = 0
        async with self.sessionmaker() as session, session.begin():
            candidates = (
                select(Broadcast.id)
                .where(Broadcast.status == "scheduled", Broadcast.scheduled_at <= self.now())
                .limit(20)
            )
            if self.settings.is_postgres:
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(await session.scalars(candidates))
            for broadcast_id in ids:
                claimed = await session.scalar(
                    update(Broadcast)
                    .where(Broadcast.id == broadcast_id, Broadcast.status == "scheduled")
                    .values(status="sending")
                    .returning(Broadcast.id)
                )
                if claimed is None:
                    continue
                broadcast = await session.get(Broadcast, broadcast_id)
                assert broadcast is not None
                await fan_out(session, broadcast, self.settings.default_language)
                started += 1
        return started

    async def _claim(self) -> Claimed | None:
        """One row (tests step with it); the workers claim batches (:meth:`_claim_rows`)."""
        rows = await self._claim_rows(1)
        return rows[0] if rows else None

    async def _claim_rows(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` pending rows of the broadcasts this process holds in one
        transaction (``pending -> sending`` with a lease, committed before any is sent)."""
        await self._renew_leases_if_due()
        if not self.held:
            return []
        now = self.now()
        quiet = in_quiet_hours(
            now, self.settings.tz, self.settings.quiet_hours_start, self.settings.quiet_hours_end
        )
        candidate = (
            select(D.id)
            .join(Broadcast, Broadcast.id == D.broadcast_id)
            .where(
                D.status == "pending",
                D.broadcast_id.in_(sorted(self.held)),
                Broadcast.status == "sending",
                or_(D.next_attempt_at.is_(None), D.next_attempt_at <= now),
                Broadcast.kind.notin_(HELD_IN_QUIET_HOURS) if quiet else true(),
            )
            .order_by(D.id)
            .limit(limit)
        )
        CLAIMS.labels("round_trips").inc()
        async with self.sessionmaker() as session, session.begin():
            if self.settings.is_postgres:
                # Lock the candidates first: an UPDATE … WHERE id IN (SELECT … LIMIT n) may
                # re-run the subquery and claim more rows than the LIMIT on PostgreSQL.
                picked = list(
                    await session.scalars(candidate.with_for_update(skip_locked=True, of=D))
                )
                if not picked:
                    return []
                target: Any = D.id.in_(picked)
            else:  # one statement; SQLite serialises writers
                # Read first: an idle worker must not take SQLite's write lock every second.
                if await session.scalar(candidate.limit(1)) is None:
                    return []
                target = D.id.in_(candidate.scalar_subquery())
            rows = (
                await session.execute(
                    update(D)
                    .where(target, D.status == "pending")
                    .values(
                        status="sending", lease_until=now + self.lease, attempts=D.attempts + 1
                    )
                    .returning(D.id, D.broadcast_id, D.user_id, D.language, D.attempts)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        CLAIMS.labels("rows").inc(len(rows))
        return sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows)

    async def _next_claimed(self) -> Claimed | None:
        """The next row for a worker, from the batch this process claimed. The next batch is
        claimed in the background when half of this one is left (one round trip for
        ``claim_batch`` rows, and the workers do not all stop for it)."""
        while True:
            if self._claimed:
                row = self._claimed.popleft()
                if len(self._claimed) <= self.claim_batch // 2 and not self.stopping.is_set():
                    self._refill()
                return row
            if not await self._refill():
                return self._claimed.popleft() if self._claimed else None

    def _refill(self) -> asyncio.Task[int]:
        """The claim of the next batch: the one under way, or a new one."""
        previous = self._refilling
        if previous is not None and previous.done() and not previous.cancelled():
            if (failed := previous.exception()) is not None:  # a prefetch nobody awaited
                log.warning("claiming broadcast rows failed: %s", failed)
        if previous is None or previous.done():
            self._refilling = asyncio.create_task(self._claim_more())
        assert self._refilling is not None
        return self._refilling

    async def _claim_more(self) -> int:
        started = time.perf_counter()
        try:
            rows = await self._claim_rows(self.claim_batch)
        finally:
            WORKER_SECONDS.labels("claim_round_trip").inc(time.perf_counter() - started)
        self._claimed.extend(rows)
        return len(rows)

    async def _unclaim(self) -> None:
        """Rows claimed but not sent (shutdown): back to the queue, their attempt not spent."""
        rows, self._claimed = list(self._claimed), collections.deque()
        if not rows:
            return
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(D)
                .where(D.id.in_([r[0] for r in rows]), D.status == "sending")
                .values(status="pending", lease_until=None, attempts=D.attempts - 1)
                .execution_options(synchronize_session=False)
            )

    async def _flush_sent(self) -> None:
        """Mark the rows sent since the last flush ``sent`` in one statement (each with its
        own ``sent_at``)."""
        if not self._sent:
            return
        rows, self._sent = self._sent, []
        started = time.perf_counter()
        try:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(D)
                    .where(D.id.in_([i for i, _ in rows]), D.status.in_(("sending", "unknown")))
                    .values(
                        status="sent",
                        lease_until=None,
                        error=None,
                        sent_at=case(
                            {i: literal(at, UTCDateTime()) for i, at in rows}, value=D.id
                        ),
                    )
                    .execution_options(synchronize_session=False)
                )
        finally:
            WORKER_SECONDS.labels("mark").inc(time.perf_counter() - started)

    async def _mark(self, delivery_id: int, **values: Any) -> None:
        started = time.perf_counter()
        try:
            await self._mark_row(delivery_id, **values)
        finally:
            WORKER_SECONDS.labels("mark").inc(time.perf_counter() - started)

    async def _mark_row(self, delivery_id: int, **values: Any) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(D)
                .where(D.id == delivery_id, D.status.in_(("sending", "unknown")))
                .values(lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )
            if values.get("status") == "blocked":
                user_id = await session.scalar(select(D.user_id).where(D.id == delivery_id))
                await session.execute(
                    update(User).where(User.id == user_id).values(is_active=False)
                )

    async def _content_of(self, broadcast_id: int) -> _Content:
        content = self._content.get(broadcast_id)
        if content is None:
            async with self.sessionmaker() as session:
                b = await session.get(Broadcast, broadcast_id)
                assert b is not None
                content = _Content(
                    b.kind, b.text, b.media_kind, b.media_file_id, b.reminder_job_id
                )
            self._content[broadcast_id] = content
        return content

    async def _text_for(self, content: _Content, lang: str) -> str:
        if content.kind != "reminder":
            return content.text
        if lang not in content.rendered:
            assert self.reminder_renderer is not None and content.reminder_job_id is not None
            async with self.sessionmaker() as session:
                with use_locale(self.i18n, lang):
                    content.rendered[lang] = await self.reminder_renderer(
                        session, content.reminder_job_id, lang
                    )
        return content.rendered[lang]

    async def send_content(self, bot: Bot, chat_id: int, content: _Content, lang: str) -> None:
        text = await self._text_for(content, lang)
        timeout = self.request_timeout
        if content.media_kind == "photo" and content.media_file_id:
            await bot.send_photo(
                chat_id, content.media_file_id, caption=text or None, request_timeout=timeout
            )
        elif content.media_kind == "document" and content.media_file_id:
            await bot.send_document(
                chat_id, content.media_file_id, caption=text or None, request_timeout=timeout
            )
        else:
            await bot.send_message(chat_id, text, request_timeout=timeout)

    async def deliver(self, bot: Bot) -> int:
        """Run ``concurrency`` workers until nothing is claimable; returns rows handled."""
        handled = 0
        stop_progress = asyncio.Event()

        async def worker() -> None:
            nonlocal handled
            while not self.stopping.is_set():
                await self.gate.wait()
                started = time.perf_counter()
                claimed = await self._next_claimed()
                WORKER_SECONDS.labels("claim").inc(time.perf_counter() - started)
                if claimed is None:
                    return
                handled += 1
                await self._deliver_one(bot, *claimed)

        async def progress() -> None:
            while not stop_progress.is_set():
                # Renewed here too: workers may all wait long (a 429 pause) between claims.
                await self._renew_leases_if_due()
                await self._flush_sent()  # the counts shown include what was just sent
                await self.report_progress(bot)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_progress.wait(), self.progress_interval)

        self._batching = True
        reporter = asyncio.create_task(progress())
        try:
            async with asyncio.TaskGroup() as group:
                for _worker in range(self.concurrency):
                    group.create_task(worker())
        finally:
            self._batching = False
            stop_progress.set()
            await reporter
            if self._refilling is not None and not self._refilling.done():
                with contextlib.suppress(Exception):  # its rows go back right below
                    await self._refilling
            self._refilling = None
            await self._flush_sent()
            await self._unclaim()
        return handled

    async def _deliver_one(
        self,
        bot: Bot,
        delivery_id: int,
        broadcast_id: int,
        user_id: int,
        lang: str | None,
        attempts: int,
    ) -> None:
        content = await self._content_of(broadcast_id)
        kind = SendClass.REMINDER if content.kind == "reminder" else SendClass.BROADCAST
        started = time.perf_counter()
        try:
            with sending_as(kind):
                await self.send_content(
                    bot, user_id, content, lang or self.settings.default_language
                )
        except TelegramRetryAfter as exc:
            WORKER_SECONDS.labels("send").inc(time.perf_counter() - started)
            # Pause everyone for what Telegram asks; the row goes back, the attempt is not spent.
            self.stats.retry_after += 1
            self.gate.pause(float(exc.retry_after))
            await self._mark(delivery_id, status="pending", attempts=attempts - 1)
        except TelegramForbiddenError as exc:
            WORKER_SECONDS.labels("send").inc(time.perf_counter() - started)
            self.stats.blocked += 1
            metrics.broadcast_failures.inc()
            await self._mark(delivery_id, status="blocked", error=str(exc.message)[:256])
        except (TelegramBadRequest, TelegramNotFound) as exc:
            WORKER_SECONDS.labels("send").inc(time.perf_counter() - started)
            self.stats.failed += 1
            metrics.broadcast_failures.inc()
            await self._mark(delivery_id, status="failed", error=str(exc.message)[:256])
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            WORKER_SECONDS.labels("send").inc(time.perf_counter() - started)
            error = str(exc)[:256]
            if attempts >= self.max_attempts:
                self.stats.failed += 1
                metrics.broadcast_failures.inc()
                await self._mark(delivery_id, status="failed", error=error)
            else:
                self.stats.retried += 1
                delay = self.backoff * 2 ** (attempts - 1)
                await self._mark(
                    delivery_id,
                    status="pending",
                    error=error,
                    next_attempt_at=self.now() + timedelta(seconds=delay),
                )
        else:
            WORKER_SECONDS.labels("send").inc(time.perf_counter() - started)
            self.stats.sent += 1
            metrics.broadcast_deliveries.inc()
            if not self._batching:  # a test stepping by hand
                await self._mark(delivery_id, status="sent", sent_at=self.now(), error=None)
                return
            self._sent.append((delivery_id, self.now()))
            if len(self._sent) >= self.claim_batch:
                await self._flush_sent()

    # Progress, cancel and report ------------------------------------------------------------

    async def cancel(self, session: AsyncSession, broadcast_id: int) -> bool:
        result = await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status.in_(("scheduled", "sending")))
            .values(status="cancelled", finished_at=self.now())
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await session.execute(
            update(D)
            .where(D.broadcast_id == broadcast_id, D.status == "pending")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        return True

    async def _edit_progress(self, bot: Bot, b: Broadcast, lang: str, *, final: bool) -> None:
        if b.progress_chat_id is None or b.progress_message_id is None:
            return
        async with self.sessionmaker() as session:
            c = await counts(session, b.id)
        budget = budget_of(bot)
        slowdown = None
        if budget is not None and not final:
            kind = SendClass.REMINDER if b.kind == "reminder" else SendClass.BROADCAST
            slowdown = budget.slowdown(kind, max(self.progress_interval, 1.0))
        with use_locale(self.i18n, lang):
            text = progress_text(b, c, now=self.now(), final=final, slowdown=slowdown)
            markup = None if final else cancel_keyboard(b.id)
        try:
            with sending_as(SendClass.RELAY):  # the sender sees it even while replies come first
                await self._send_progress(bot, b, text, markup, final=final)
        except TelegramRetryAfter as exc:
            self.gate.pause(float(exc.retry_after))
        except TelegramAPIError as exc:
            log.info("progress message of broadcast %s not updated: %s", b.id, exc)

    async def _send_progress(
        self, bot: Bot, b: Broadcast, text: str, markup: Any, *, final: bool
    ) -> None:
        assert b.progress_chat_id is not None and b.progress_message_id is not None
        await bot.edit_message_text(
            text=text,
            chat_id=b.progress_chat_id,
            message_id=b.progress_message_id,
            reply_markup=markup,
        )
        if final:
            await bot.send_message(b.progress_chat_id, text)

    async def _with_sender_lang(self, rows: list[Broadcast]) -> list[tuple[Broadcast, str]]:
        async with self.sessionmaker() as session:
            out = []
            for b in rows:
                sender = await session.get(User, b.sender_id) if b.sender_id else None
                out.append((b, self.sender_language(sender)))
            return out

    def sender_language(self, sender: User | None) -> str:
        """The sender's stored language, else their Telegram one, else the default."""
        default = self.settings.default_language
        if sender is None:
            return default
        if sender.language in LANGUAGES:
            return str(sender.language)
        return language_from_telegram(sender.telegram_language, default)

    async def report_progress(self, bot: Bot) -> None:
        """Edit the progress message of the broadcasts this process sends (only the sender
        does: its counts never go backwards)."""
        if not self.held:
            return
        async with self.sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(Broadcast).where(
                        Broadcast.id.in_(sorted(self.held)),
                        Broadcast.status == "sending",
                        Broadcast.sender_owner == self.owner,
                        Broadcast.progress_message_id.is_not(None),
                    )
                )
            )
        now = self.clock()
        due = [
            b for b in rows if now - self._last_progress.get(b.id, -1e9) >= self.progress_interval
        ]
        for b, lang in await self._with_sender_lang(due):
            self._last_progress[b.id] = now
            await self._edit_progress(bot, b, lang, final=False)

    async def finish(self, bot: Bot) -> list[int]:
        """Broadcasts with nothing pending or in flight become ``done``; senders get the report."""
        busy = select(D.broadcast_id).where(D.status.in_(("pending", "sending"))).distinct()
        async with self.sessionmaker() as session, session.begin():
            active = select(Broadcast.id).where(Broadcast.status == "sending").limit(1)
            if await session.scalar(active) is None:
                return []
            ours = or_(Broadcast.sender_owner == self.owner, self._free(self.now()))
            done = list(
                await session.scalars(
                    update(Broadcast)
                    .where(Broadcast.status == "sending", Broadcast.id.not_in(busy), ours)
                    .values(status="done", finished_at=self.now())
                    .returning(Broadcast.id)
                    .execution_options(synchronize_session=False)
                )
            )
        if done:
            await self.final_reports(bot, done)
        return done

    async def final_reports(self, bot: Bot, ids: list[int]) -> None:
        async with self.sessionmaker() as session:
            rows = list(await session.scalars(select(Broadcast).where(Broadcast.id.in_(ids))))
        for b, lang in await self._with_sender_lang(rows):
            self._content.pop(b.id, None)
            await self._edit_progress(bot, b, lang, final=True)
