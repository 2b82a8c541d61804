"""Issue 13: staff analytics as plain dataclasses, for the charts, CSV, JSON and the digest.

:meth:`StatsService.report` reads one period (local dates, both ends included) through
:class:`bot.db.stats.StatsRepository` and returns a :class:`StatsReport`. Counts, clause IDs,
FAQ keys, topics, kinds and steps only: no names, no user ids. The only texts are the example
questions of the top unanswered groups, anonymised (:func:`anonymise`), and only of people who
did not use /forget (their questions were deleted with them).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LANGUAGES, Settings
from bot.db.base import utcnow
from bot.db.stats import StatsRepository, TicketRow
from bot.services.helpdesk import WorkingHours

TOP_CLAUSES = 15
TOP_UNANSWERED = 10
ABANDONED_AFTER = timedelta(hours=24)  # a wizard idle this long counts as abandoned
DEFAULT_DAYS = 30
# the answer kinds of the question log, as staff read them
ANSWERED = ("answer", "programme")
OUTCOMES: dict[str, str] = {
    "answer": "answered",
    "programme": "answered",
    "faq": "faq",
    "unsure": "unsure",
    "out_of_scope": "not_covered",
    "office": "not_covered",
}
OUTCOME_ORDER = ("answered", "faq", "unsure", "not_covered", "other")


@dataclass(frozen=True, slots=True)
class Period:
    since: date  # local dates, both included
    until: date

    @classmethod
    def last_days(cls, today: date, days: int = DEFAULT_DAYS) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


@dataclass(slots=True)
class DayCount:
    day: date
    language: str
    count: int


@dataclass(slots=True)
class Ranked:
    key: str  # a clause ID or an FAQ entry key
    count: int


@dataclass(slots=True)
class Feedback:
    clause: str
    up: int
    down: int


@dataclass(slots=True)
class UnansweredTop:
    group_id: int
    count: int
    example: str  # anonymised; "" when its asker used /forget
    language: str


@dataclass(slots=True)
class QuestionStats:
    total: int = 0
    per_day: list[DayCount] = field(default_factory=list)
    by_language: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # answered, faq, unsure, …
    askers: int = 0
    escalated: int = 0  # askers who also opened a helpdesk request
    top_clauses: list[Ranked] = field(default_factory=list)
    top_faq: list[Ranked] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    unanswered: list[UnansweredTop] = field(default_factory=list)

    def share(self, outcome: str) -> float | None:
        return self.outcomes.get(outcome, 0) / self.total if self.total else None

    @property
    def containment(self) -> float | None:
        """Share of the people who asked that needed no person (opened no request)."""
        return (self.askers - self.escalated) / self.askers if self.askers else None


@dataclass(slots=True)
class TopicStats:
    topic: str  # a ticket topic, or "all"
    opened: int = 0
    replied: int = 0
    closed: int = 0
    first_reply_median: float | None = None  # working minutes
    first_reply_p90: float | None = None
    close_median: float | None = None
    close_p90: float | None = None
    sla_breaches: int = 0
    rated: int = 0
    csat: float | None = None  # mean rating, 1–5
    satisfied_share: float | None = None  # share of ratings 4–5


@dataclass(slots=True)
class HelpdeskStats:
    sla_minutes: int = 0
    total: TopicStats = field(default_factory=lambda: TopicStats("all"))
    by_topic: list[TopicStats] = field(default_factory=list)


@dataclass(slots=True)
class Funnel:
    kind: str  # dl | online | "" (left before choosing)
    started: int = 0
    submitted: int = 0
    approved: int = 0
    rejected: int = 0
    under_review: int = 0
    median_days_to_decision: float | None = None
    abandoned: dict[str, int] = field(default_factory=dict)  # step -> wizards left there


@dataclass(slots=True)
class ApplicationStats:
    funnels: list[Funnel] = field(default_factory=list)

    @property
    def abandoned(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for funnel in self.funnels:
            total.update(funnel.abandoned)
        return dict(total.most_common())

    @property
    def most_abandoned_step(self) -> str | None:
        steps = self.abandoned
        return next(iter(steps)) if steps else None


@dataclass(slots=True)
class BroadcastStats:
    id: int
    kind: str  # message | reminder | faq
    day: date
    total: int
    delivered: int = 0
    blocked: int = 0
    failed: int = 0
    waiting: int = 0  # pending, sending, unknown, cancelled


@dataclass(slots=True)
class UserWeek:
    week: date  # Monday
    role: str
    language: str
    new: int = 0
    active: int = 0


@dataclass(slots=True)
class StatsReport:
    period: Period
    timezone: str
    generated_at: datetime
    questions: QuestionStats
    helpdesk: HelpdeskStats
    applications: ApplicationStats
    broadcasts: list[BroadcastStats]
    users: list[UserWeek]

    @property
    def is_empty(self) -> bool:
        return not (
            self.questions.total
            or self.helpdesk.total.opened
            or any(f.started or f.submitted for f in self.applications.funnels)
            or self.broadcasts
            or any(u.new or u.active for u in self.users)
        )

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, (date, datetime)):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if isinstance(value, float):
                return round(value, 4)
            return value

        out: dict[str, Any] = plain(asdict(self))
        out["questions"]["containment"] = plain(self.questions.containment)
        out["questions"]["shares"] = {k: plain(self.questions.share(k)) for k in OUTCOME_ORDER}
        out["applications"]["abandoned"] = self.applications.abandoned
        out["applications"]["most_abandoned_step"] = self.applications.most_abandoned_step
        return out


# --------------------------------------------------------------------------- helpers


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w{3,}")
_NUMBER = re.compile(r"\+?\d[\d\s()./-]{3,}\d")  # phones, IINs, student ids, dates
_NAME_AFTER = re.compile(
    r"(?i)\b(меня зовут|my name is|i am|i'm|менің атым|атым|я)\s+"
    r"([A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w'-]+(?:\s+[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w'-]+){0,2})"
)
MASK = "…"


def anonymise(text: str, limit: int = 120) -> str:
    """A question as staff may see it in a chart or a file: e-mails, links, @handles, numbers
    of four digits or more (phones, IINs, ids) and a name after "my name is" masked; one line,
    at most ``limit`` characters. A best effort: the texts come from people who did not /forget,
    and only the examples of the biggest unanswered groups are shown."""
    text = _EMAIL.sub(MASK, text)
    text = _URL.sub(MASK, text)
    text = _HANDLE.sub(MASK, text)
    text = _NUMBER.sub(MASK, text)
    text = re.sub(r"\d{4,}", MASK, text)
    text = _NAME_AFTER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- the service


class StatsService:
    """Builds reports; also the weekly digest's worker (``run_forever``) once it is set up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hours = WorkingHours(settings)

    def now(self) -> datetime:
        return utcnow()

    def today(self) -> date:
        return self.now().astimezone(self.settings.tz).date()

    def bounds(self, period: Period) -> tuple[datetime, datetime]:
        tz = self.settings.tz
        start = datetime.combine(period.since, time(0), tzinfo=tz)
        end = datetime.combine(period.until + timedelta(days=1), time(0), tzinfo=tz)
        return start, end

    async def report(self, session: AsyncSession, period: Period) -> StatsReport:
        start, end = self.bounds(period)
        repo = StatsRepository(session, self.settings.tz, start, end)
        now = self.now()
        return StatsReport(
            period=period,
            timezone=self.settings.timezone,
            generated_at=now,
            questions=await self._questions(repo),
            helpdesk=self._helpdesk(await repo.tickets(), min(now, end)),
            applications=await self._applications(repo, now),
            broadcasts=await self._broadcasts(repo),
            users=await self._users(repo),
        )

    async def _questions(self, repo: StatsRepository) -> QuestionStats:
        stats = QuestionStats()
        per_day: Counter[tuple[date, str]] = Counter()
        by_language: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        for day, lang, kind, n in await repo.questions_by_day():
            per_day[(day, lang)] += n
            by_language[lang] += n
            outcomes[OUTCOMES.get(kind, "other")] += n
        stats.total = sum(by_language.values())
        stats.per_day = [DayCount(d, lang, n) for (d, lang), n in sorted(per_day.items())]
        languages = [lang for lang in LANGUAGES if lang in by_language]
        languages += sorted(set(by_language) - set(languages))
        stats.by_language = {lang: by_language[lang] for lang in languages}
        stats.outcomes = {k: outcomes[k] for k in OUTCOME_ORDER if outcomes[k]}

        clauses: Counter[str] = Counter()
        entries: Counter[str] = Counter()
        up: Counter[str] = Counter()
        down: Counter[str] = Counter()
        for kind, clause, key, n, plus, minus in await repo.questions_by_answer():
            if kind in ANSWERED and clause:
                clauses[clause] += n
                up[clause] += plus
                down[clause] += minus
            elif kind == "faq" and key:
                entries[key] += n
        stats.top_clauses = [Ranked(k, n) for k, n in _ranked(clauses)[:TOP_CLAUSES]]
        stats.top_faq = [Ranked(k, n) for k, n in _ranked(entries)[:TOP_CLAUSES]]
        voted = [c for c in set(up) | set(down) if up[c] or down[c]]
        voted.sort(key=lambda c: (-(up[c] + down[c]), c))
        stats.feedback = [Feedback(c, up[c], down[c]) for c in voted[:TOP_CLAUSES]]
        stats.askers, stats.escalated = await repo.askers()

        groups = await repo.unanswered_groups(TOP_UNANSWERED)
        examples = await repo.unanswered_examples([q for _g, _n, q in groups])
        for group_id, n, question_id in groups:
            text, lang = examples.get(question_id, ("", ""))
            stats.unanswered.append(UnansweredTop(group_id, n, anonymise(text), lang))
        return stats

    def _timed(self, t: TicketRow, until: datetime) -> tuple[float | None, bool, float | None]:
        """(working minutes to the first reply, SLA breached, working minutes to closing)."""
        limit = self.settings.helpdesk_sla_minutes
        if t.first_response_at is not None:
            first: float | None = self.hours.minutes_between(t.created_at, t.first_response_at)
            breached = (first or 0) > limit
        else:  # no reply yet: breached once waiting past the limit (no need to count further)
            first = None
            breached = self.hours.minutes_between(t.created_at, until, cap=limit) > limit
        closing = (
            self.hours.minutes_between(t.created_at, t.closed_at)
            if t.closed_at is not None
            else None
        )
        return first, breached, closing

    @staticmethod
    def _topic(
        topic: str, rows: list[tuple[TicketRow, float | None, bool, float | None]]
    ) -> TopicStats:
        stats = TopicStats(topic, opened=len(rows))
        first = [f for _t, f, _b, _c in rows if f is not None]
        closing = [c for _t, _f, _b, c in rows if c is not None]
        ratings = [int(t.rating) for t, _f, _b, _c in rows if t.rating is not None]
        stats.sla_breaches = sum(1 for _t, _f, b, _c in rows if b)
        stats.replied, stats.closed, stats.rated = len(first), len(closing), len(ratings)
        stats.first_reply_median = percentile(first, 0.5)
        stats.first_reply_p90 = percentile(first, 0.9)
        stats.close_median = percentile(closing, 0.5)
        stats.close_p90 = percentile(closing, 0.9)
        if ratings:
            stats.csat = sum(ratings) / len(ratings)
            stats.satisfied_share = sum(1 for r in ratings if r >= 4) / len(ratings)
        return stats

    def _helpdesk(self, tickets: list[TicketRow], until: datetime) -> HelpdeskStats:
        rows = [(t, *self._timed(t, until)) for t in tickets]  # each ticket timed once
        by_topic: dict[str, list[tuple[TicketRow, float | None, bool, float | None]]] = (
            defaultdict(list)
        )
        for row in rows:
            by_topic[row[0].topic].append(row)
        return HelpdeskStats(
            sla_minutes=self.settings.helpdesk_sla_minutes,
            total=self._topic("all", rows),
            by_topic=[self._topic(k, v) for k, v in sorted(by_topic.items())],
        )

    async def _applications(self, repo: StatsRepository, now: datetime) -> ApplicationStats:
        funnels: dict[str, Funnel] = {}

        def funnel(kind: str | None) -> Funnel:
            return funnels.setdefault(kind or "", Funnel(kind or ""))

        for kind, step, state, n in await repo.wizard_runs(now - ABANDONED_AFTER):
            f = funnel(kind)
            f.started += n
            if state == "abandoned":
                f.abandoned[step] = f.abandoned.get(step, 0) + n
        for kind, status, n in await repo.applications():
            f = funnel(kind)
            f.submitted += n
            if status == "approved":
                f.approved += n
            elif status == "rejected":
                f.rejected += n
            else:
                f.under_review += n
        days: dict[str, list[float]] = defaultdict(list)
        for kind, created, decided in await repo.decisions():
            days[kind].append((decided - created).total_seconds() / 86400)
        for kind, values in days.items():
            funnel(kind).median_days_to_decision = percentile(values, 0.5)
        for f in funnels.values():
            f.abandoned = dict(sorted(f.abandoned.items(), key=lambda kv: (-kv[1], kv[0])))
        order = {"dl": 0, "online": 1, "": 2}
        return ApplicationStats(sorted(funnels.values(), key=lambda f: order.get(f.kind, 3)))

    async def _broadcasts(self, repo: StatsRepository) -> list[BroadcastStats]:
        out: dict[int, BroadcastStats] = {}
        tz = self.settings.tz
        for bid, kind, created, total, status, n in await repo.broadcasts():
            day = created.astimezone(tz).date()
            b = out.setdefault(bid, BroadcastStats(bid, kind, day, total))
            if status == "sent":
                b.delivered += n
            elif status == "blocked":
                b.blocked += n
            elif status == "failed":
                b.failed += n
            elif status:
                b.waiting += n
        return [out[k] for k in sorted(out)]

    async def _users(self, repo: StatsRepository) -> list[UserWeek]:
        weeks: dict[tuple[date, str, str], UserWeek] = {}
        for week, role, lang, n in await repo.new_users():
            weeks.setdefault((week, role, lang), UserWeek(week, role, lang)).new += n
        for week, role, lang, n in await repo.active_users():
            weeks.setdefault((week, role, lang), UserWeek(week, role, lang)).active += n
        return [weeks[k] for k in sorted(weeks)]


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
