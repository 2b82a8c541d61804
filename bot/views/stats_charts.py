"""Issue 13: the statistics as charts — one matplotlib figure per PNG, labels in the current
locale (call inside ``use_locale``), DejaVu Sans (bundled with matplotlib: Kazakh letters).

No pyplot: each chart is a ``Figure`` on an Agg canvas, so drawing keeps no figure registry
and may run in a worker thread (the few rcParams set are always the same values). A section
with nothing in the period gets no chart (rather than an empty one). Each PNG carries its
title in the ``Title`` text chunk, and ``Chart.title`` is the same text.
"""

from __future__ import annotations

import io
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiogram.utils.i18n import gettext as _
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.config import LANGUAGES
from bot.db.buckets import monday
from bot.services.stats import OUTCOME_ORDER, StatsReport
from bot.views.stats_labels import (
    broadcast_kind_label,
    kind_label,
    language_label,
    outcome_label,
    step_label,
    topic_label,
)

WIDTH, HEIGHT, DPI = 9.0, 5.0, 100  # 900 × 500 px
MAX_ALBUM = 10  # Telegram's limit for one media group
MAX_BARS = 15
MAX_STACKED_BARS = 62  # more buckets than this: a stacked area instead of bars
COLORS = {
    "kk": "#1f77b4",
    "ru": "#d62728",
    "en": "#2ca02c",
    "?": "#7f7f7f",
}
GOOD, BAD, MID, GREY = "#2ca02c", "#d62728", "#ff7f0e", "#7f7f7f"
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{self.key}.png"


def _figure() -> Figure:
    from matplotlib import rcParams

    rcParams.update(RC)  # type: ignore[arg-type]  # idempotent: these keys, these values
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure, title: str) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Title": title, "Software": "studentbot"})
    return out.getvalue()


def _titled(fig: Figure, title: str, sub: str) -> None:
    """Title and subtitle over the whole figure, left-aligned, wrapped to its width."""
    fig.suptitle(
        title + "\n" + textwrap.fill(sub, 88), x=0.01, ha="left", fontsize=12, linespacing=1.4
    )


def _period(report: StatsReport) -> str:
    return f"{report.period.since:%d.%m.%Y} – {report.period.until:%d.%m.%Y}"


def _hbar(fig: Figure, labels: list[str], values: list[float], color: str) -> None:
    ax = fig.add_subplot()
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    for y, v in zip(positions, values, strict=True):
        ax.text(v, y, f" {v:g}", va="center", fontsize=9)
    ax.set_xlim(0, max(values) * 1.15 if values and max(values) > 0 else 1)


def _stacked(ax: Any, x: list[int], series: list[tuple[str, list[int], str]]) -> None:
    """Stacked bars for a few buckets; past ``MAX_STACKED_BARS`` one stacked area (a year of
    days as bars is a thousand patches, seconds to draw; an area is one polygon a series)."""
    if len(x) > MAX_STACKED_BARS:
        ax.stackplot(
            x,
            *[values for _label, values, _color in series],
            labels=[label for label, _values, _color in series],
            colors=[color for _label, _values, color in series],
            step="mid",
        )
        ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
        return
    bottom = [0] * len(x)
    for label, values, color in series:
        ax.bar(x, values, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]


def _short(day: date) -> str:
    return f"{day:%d.%m}"


# --------------------------------------------------------------------------- the charts


def questions_per_day(report: StatsReport) -> Chart | None:
    q = report.questions
    if not q.total:
        return None
    days = [report.period.since + timedelta(days=i) for i in range(report.period.days)]
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for d in q.per_day:
        counts[d.language][d.day] = d.count
    title = _("Questions per day, by language")
    fig = _figure()
    ax = fig.add_subplot()
    x = list(range(len(days)))
    order = [lang for lang in LANGUAGES if lang in counts] + sorted(set(counts) - set(LANGUAGES))
    _stacked(
        ax,
        x,
        [
            (
                f"{language_label(lang)} ({q.by_language.get(lang, 0)})",
                [counts[lang].get(day, 0) for day in days],
                COLORS.get(lang, GREY),
            )
            for lang in order
        ],
    )
    step = max(1, len(days) // 15)
    ax.set_xticks(x[::step], [_short(day) for day in days][::step], rotation=45, ha="right")
    ax.set_ylabel(_("questions"))
    fig.legend(loc="outside right upper", fontsize=9)
    _titled(fig, title, _period(report))
    return Chart("questions_per_day", title, _png(fig, title))


def answer_outcomes(report: StatsReport) -> Chart | None:
    q = report.questions
    if not q.total:
        return None
    title = _("How the questions were answered")
    outcomes = [o for o in OUTCOME_ORDER if q.outcomes.get(o)]
    shares = [round(100 * (q.share(o) or 0), 1) for o in outcomes]
    colors = {"answered": GOOD, "faq": "#17becf", "unsure": MID, "not_covered": BAD}
    fig = _figure()
    ax = fig.add_subplot()
    positions = list(range(len(outcomes)))[::-1]
    ax.barh(positions, shares, color=[colors.get(o, GREY) for o in outcomes])
    ax.set_yticks(positions, [outcome_label(o) for o in outcomes])
    for y, o, share in zip(positions, outcomes, shares, strict=True):
        ax.text(share, y, f" {share:g} % ({q.outcomes[o]})", va="center", fontsize=9)
    ax.set_xlim(0, 115)
    ax.set_xlabel(_("% of questions"))
    sub = _period(report)
    if q.containment is not None:
        sub += " · " + _(
            "containment {share} % (of {people} people who asked, {helpdesk} asked a person)"
        ).format(share=round(100 * q.containment), people=q.askers, helpdesk=q.escalated)
    _titled(fig, title, sub)
    return Chart("answer_outcomes", title, _png(fig, title))


def top_answers(report: StatsReport) -> Chart | None:
    q = report.questions
    ranked = [(r.count, r.key) for r in q.top_clauses] + [
        (r.count, "FAQ · " + r.key) for r in q.top_faq
    ]
    if not ranked:
        return None
    ranked.sort(key=lambda cr: (-cr[0], cr[1]))
    ranked = ranked[:MAX_BARS]
    title = _("Most asked clauses and FAQ entries")
    fig = _figure()
    _hbar(fig, [k for _n, k in ranked], [n for n, _k in ranked], "#1f77b4")
    fig.axes[0].set_xlabel(_("questions answered"))
    _titled(fig, title, _period(report))
    return Chart("top_answers", title, _png(fig, title))


def feedback(report: StatsReport) -> Chart | None:
    rows = report.questions.feedback[:MAX_BARS]
    if not rows:
        return None
    title = _("Feedback per clause: helpful and not helpful")
    fig = _figure()
    ax = fig.add_subplot()
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, [r.up for r in rows], color=GOOD, label=_("helpful"))
    ax.barh(positions, [-r.down for r in rows], color=BAD, label=_("not helpful"))
    ax.set_yticks(positions, [r.clause for r in rows])
    ax.axvline(0, color="black", linewidth=0.8)
    limit = max(max(r.up for r in rows), max(r.down for r in rows), 1) * 1.2
    ax.set_xlim(-limit, limit)
    fig.legend(loc="outside right upper", fontsize=9)
    ax.set_xlabel(_("votes"))
    _titled(fig, title, _period(report))
    return Chart("feedback", title, _png(fig, title))


def helpdesk_times(report: StatsReport) -> Chart | None:
    h = report.helpdesk
    if not h.total.opened:
        return None
    topics = [h.total, *h.by_topic]
    title = _("Helpdesk: time to the first reply and to closing")
    fig = _figure()
    ax = fig.add_subplot()
    series = [
        (_("first reply, median"), [t.first_reply_median for t in topics], "#1f77b4"),
        (_("first reply, p90"), [t.first_reply_p90 for t in topics], "#aec7e8"),
        (_("closing, median"), [t.close_median for t in topics], "#ff7f0e"),
        (_("closing, p90"), [t.close_p90 for t in topics], "#ffbb78"),
    ]
    width = 0.2
    for i, (label, values, color) in enumerate(series):
        xs = [x + (i - 1.5) * width for x in range(len(topics))]
        ax.bar(xs, [v or 0 for v in values], width, label=label, color=color)
    ax.set_xticks(
        list(range(len(topics))),
        [f"{textwrap.fill(topic_label(t.topic), 16)}\n({t.opened})" for t in topics],
    )
    ax.set_ylabel(_("working minutes"))
    fig.legend(loc="outside right upper", fontsize=9)
    sub = (
        _period(report)
        + " · "
        + _("SLA {minutes} working minutes: {breaches} breaches").format(
            minutes=h.sla_minutes, breaches=h.total.sla_breaches
        )
    )
    _titled(fig, title, sub)
    return Chart("helpdesk_times", title, _png(fig, title))


def helpdesk_ratings(report: StatsReport) -> Chart | None:
    h = report.helpdesk
    topics = [t for t in [h.total, *h.by_topic] if t.rated]
    if not topics:
        return None
    title = _("Helpdesk: ratings by topic")
    fig = _figure()
    ax = fig.add_subplot()
    x = list(range(len(topics)))
    shares = [round(100 * (t.satisfied_share or 0)) for t in topics]
    ax.bar(x, shares, color=GOOD, label=_("% rated 4–5"))
    for xi, t, share in zip(x, topics, shares, strict=True):
        ax.text(
            xi,
            share,
            _("{csat}/5 · {n} rated").format(csat=f"{t.csat or 0:.1f}", n=t.rated),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_xticks(x, [textwrap.fill(topic_label(t.topic), 16) for t in topics])
    ax.set_ylim(0, 115)
    ax.set_ylabel(_("% rated 4–5"))
    _titled(fig, title, _period(report))
    return Chart("helpdesk_ratings", title, _png(fig, title))


def application_funnel(report: StatsReport) -> Chart | None:
    funnels = [f for f in report.applications.funnels if f.started or f.submitted]
    if not funnels:
        return None
    title = _("Applications: from the wizard to a decision")
    fig = _figure()
    ax = fig.add_subplot()
    stages = [
        (_("wizard started"), "started", "#aec7e8"),
        (_("submitted"), "submitted", "#1f77b4"),
        (_("approved"), "approved", GOOD),
        (_("rejected"), "rejected", BAD),
    ]
    width = 0.2
    for i, (label, attr, color) in enumerate(stages):
        xs = [x + (i - 1.5) * width for x in range(len(funnels))]
        values = [getattr(f, attr) for f in funnels]
        ax.bar(xs, values, width, label=label, color=color)
        for xv, v in zip(xs, values, strict=True):
            ax.text(xv, v, str(v), ha="center", va="bottom", fontsize=8)
    labels = []
    for f in funnels:
        label = kind_label(f.kind)
        if f.median_days_to_decision is not None:
            label += "\n" + _("decision in {days} days (median)").format(
                days=f"{f.median_days_to_decision:.1f}"
            )
        labels.append(label)
    ax.set_xticks(list(range(len(funnels))), labels)
    fig.legend(loc="outside right upper", fontsize=9)
    _titled(fig, title, _period(report))
    return Chart("application_funnel", title, _png(fig, title))


def abandoned_steps(report: StatsReport) -> Chart | None:
    steps = list(report.applications.abandoned.items())[:MAX_BARS]
    if not steps:
        return None
    title = _("Where application wizards were abandoned")
    fig = _figure()
    _hbar(fig, [step_label(s) for s, _n in steps], [n for _s, n in steps], MID)
    fig.axes[0].set_xlabel(_("wizards left at this step"))
    _titled(fig, title, _period(report))
    return Chart("abandoned_steps", title, _png(fig, title))


def broadcast_delivery(report: StatsReport) -> Chart | None:
    rows = report.broadcasts[-MAX_BARS:]
    if not rows:
        return None
    title = _("Broadcasts and reminders: delivery")
    fig = _figure()
    ax = fig.add_subplot()
    positions = list(range(len(rows)))[::-1]
    left = [0] * len(rows)
    for label, attr, color in (
        (_("delivered"), "delivered", GOOD),
        (_("blocked the bot"), "blocked", GREY),
        (_("failed"), "failed", BAD),
        (_("waiting"), "waiting", "#c7c7c7"),
    ):
        values = [getattr(b, attr) for b in rows]
        ax.barh(positions, values, left=left, color=color, label=label)
        left = [a + v for a, v in zip(left, values, strict=True)]
    ax.set_yticks(
        positions, [f"{b.day:%d.%m} {broadcast_kind_label(b.kind)} #{b.id}" for b in rows]
    )
    ax.set_xlabel(_("recipients"))
    fig.legend(loc="outside right upper", fontsize=9)
    _titled(fig, title, _period(report))
    return Chart("broadcast_delivery", title, _png(fig, title))


def users_per_week(report: StatsReport) -> Chart | None:
    if not any(u.new or u.active for u in report.users):
        return None
    first = monday(report.period.since)
    count = (report.period.until - first).days // 7 + 1
    weeks = [first + timedelta(weeks=i) for i in range(count)]
    active: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    new: dict[date, int] = defaultdict(int)
    for u in report.users:
        active[u.language][u.week] += u.active
        new[u.week] += u.new
    title = _("Users per week: active by language, and new")
    fig = _figure()
    ax = fig.add_subplot()
    x = list(range(len(weeks)))
    order = [lang for lang in LANGUAGES if lang in active] + sorted(set(active) - set(LANGUAGES))
    _stacked(
        ax,
        x,
        [
            (
                _("active · {language}").format(language=language_label(lang)),
                [active[lang].get(w, 0) for w in weeks],
                COLORS.get(lang, GREY),
            )
            for lang in order
        ],
    )
    ax.plot(x, [new.get(w, 0) for w in weeks], color="black", marker="o", label=_("new"))
    step = max(1, len(weeks) // 15)
    ax.set_xticks(x[::step], [_short(w) for w in weeks][::step], rotation=45, ha="right")
    ax.set_xlabel(_("week from Monday"))
    ax.set_ylabel(_("users"))
    fig.legend(loc="outside right upper", fontsize=9)
    _titled(fig, title, _period(report))
    return Chart("users_per_week", title, _png(fig, title))


CHARTS: tuple[Callable[[StatsReport], Chart | None], ...] = (
    questions_per_day,
    answer_outcomes,
    top_answers,
    feedback,
    helpdesk_times,
    helpdesk_ratings,
    application_funnel,
    abandoned_steps,
    broadcast_delivery,
    users_per_week,
)


def draw_charts(
    report: StatsReport, *, timings: dict[str, list[float]] | None = None
) -> list[Chart]:
    """The charts that have data, in album order (at most ``MAX_ALBUM``); ``timings`` gets
    each chart's drawing time in seconds (for the benchmark)."""
    out: list[Chart] = []
    for draw in CHARTS:
        t0 = time.perf_counter()
        chart = draw(report)
        if timings is not None:
            timings.setdefault(draw.__name__, []).append(time.perf_counter() - t0)
        if chart is not None:
            out.append(chart)
    return out[:MAX_ALBUM]
