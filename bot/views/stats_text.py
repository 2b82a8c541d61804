"""Issue 13: the short text under the charts (an album caption, at most 1,024 characters) and
the "no data" message, in the current locale. HTML; the one user-written text (an anonymised
example question) is escaped."""

from __future__ import annotations

import html

from aiogram.utils.i18n import gettext as _

from bot.services.stats import OUTCOME_ORDER, Period, StatsReport
from bot.views.stats_labels import language_label, outcome_label, step_label

CAPTION_LIMIT = 1024


def period_text(period: Period) -> str:
    return f"{period.since:%d.%m.%Y} – {period.until:%d.%m.%Y}"


def no_data_text(period: Period) -> str:
    return _(
        "📊 No data for {period}: nothing was asked, no request opened, no application "
        "started and nothing sent. Try a longer period, e.g. /stats 90."
    ).format(period=period_text(period))


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)} %"


def _minutes(value: float | None) -> str:
    return "–" if value is None else str(round(value))


def summary_text(report: StatsReport, *, title: str | None = None) -> str:
    """What the charts show, in a few lines; cut to fit a caption."""
    q, h, a = report.questions, report.helpdesk, report.applications
    lines = [
        "<b>" + (title or _("📊 Statistics")) + f"</b> · {period_text(report.period)}",
    ]
    if q.total:
        languages = " · ".join(f"{language_label(k)} {n}" for k, n in q.by_language.items())
        shares = ", ".join(
            f"{outcome_label(o)} {_pct(q.share(o))}" for o in OUTCOME_ORDER if q.outcomes.get(o)
        )
        lines.append(
            _("❓ Questions: {total} ({languages}); {shares}.").format(
                total=q.total, languages=languages, shares=shares
            )
        )
        lines.append(
            _("Containment: {share} of {people} people who asked needed no person.").format(
                share=_pct(q.containment), people=q.askers
            )
        )
    if h.total.opened:
        lines.append(
            _(
                "🙋 Helpdesk: {opened} requests; first reply {median} working min (median, "
                "p90 {p90}); {breaches} SLA breaches; rating {csat} ({satisfied} gave 4–5)."
            ).format(
                opened=h.total.opened,
                median=_minutes(h.total.first_reply_median),
                p90=_minutes(h.total.first_reply_p90),
                breaches=h.total.sla_breaches,
                csat="–" if h.total.csat is None else f"{h.total.csat:.1f}/5",
                satisfied=_pct(h.total.satisfied_share),
            )
        )
    started = sum(f.started for f in a.funnels)
    submitted = sum(f.submitted for f in a.funnels)
    if started or submitted:
        line = _(
            "📝 Applications: {started} wizards started, {submitted} submitted, {approved} "
            "approved, {rejected} rejected."
        ).format(
            started=started,
            submitted=submitted,
            approved=sum(f.approved for f in a.funnels),
            rejected=sum(f.rejected for f in a.funnels),
        )
        if a.most_abandoned_step:
            line += " " + _("Most often abandoned at: {step}.").format(
                step=step_label(a.most_abandoned_step)
            )
        lines.append(line)
    if report.broadcasts:
        total = sum(b.total for b in report.broadcasts)
        lines.append(
            _(
                "📣 Broadcasts and reminders: {count}; delivered {delivered} of {total}, "
                "blocked {blocked}, failed {failed}."
            ).format(
                count=len(report.broadcasts),
                delivered=sum(b.delivered for b in report.broadcasts),
                total=total,
                blocked=sum(b.blocked for b in report.broadcasts),
                failed=sum(b.failed for b in report.broadcasts),
            )
        )
    new = sum(u.new for u in report.users)
    if new or report.users:
        lines.append(_("👥 New users: {new}.").format(new=new))
    examples = [u for u in q.unanswered if u.example][:3]
    if examples:
        lines.append(_("📥 Asked most without an answer:"))
        for u in examples:
            candidate = f"• «{html.escape(u.example[:80])}» ({u.count})"
            if len("\n".join([*lines, candidate])) > CAPTION_LIMIT:
                break
            lines.append(candidate)
    text = "\n".join(lines)
    while len(text) > CAPTION_LIMIT and len(lines) > 1:
        lines.pop()
        text = "\n".join(lines)
    return text
