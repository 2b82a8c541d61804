"""Issue 13: a report as CSV rows (long format, one number per row) and as JSON.

Columns: ``section, bucket, dimension, metric, value, note``. ``bucket`` is a local date (a day,
or a week's Monday) or empty; ``dimension`` a language, clause ID, FAQ key, topic, kind, step,
role/language or broadcast; ``note`` holds the anonymised example of an unanswered group and is
empty everywhere else. A pivot table in any spreadsheet turns it into the charts' tables.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from bot.services.stats import OUTCOME_ORDER, StatsReport

CSV_FIELDS = ("section", "bucket", "dimension", "metric", "value", "note")


def _num(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def csv_rows(report: StatsReport) -> Iterator[dict[str, str]]:
    def row(
        section: str,
        metric: str,
        value: float | int | None,
        *,
        bucket: Any = "",
        dimension: Any = "",
        note: str = "",
    ) -> dict[str, str]:
        return {
            "section": section,
            "bucket": bucket.isoformat() if hasattr(bucket, "isoformat") else str(bucket),
            "dimension": str(dimension),
            "metric": metric,
            "value": _num(value),
            "note": note,
        }

    q = report.questions
    yield row("period", "since", None, bucket=report.period.since, note=report.timezone)
    yield row("period", "until", None, bucket=report.period.until, note=report.timezone)
    for d in q.per_day:
        yield row("questions_per_day", "questions", d.count, bucket=d.day, dimension=d.language)
    for lang, n in q.by_language.items():
        yield row("questions_by_language", "questions", n, dimension=lang)
    for outcome in OUTCOME_ORDER:
        if outcome in q.outcomes:
            yield row("question_outcomes", "questions", q.outcomes[outcome], dimension=outcome)
            yield row("question_outcomes", "share", q.share(outcome), dimension=outcome)
    yield row("containment", "people_who_asked", q.askers)
    yield row("containment", "of_them_asked_a_person", q.escalated)
    yield row("containment", "containment_rate", q.containment)
    for r in q.top_clauses:
        yield row("top_clauses", "questions", r.count, dimension=r.key)
    for r in q.top_faq:
        yield row("top_faq_entries", "questions", r.count, dimension=r.key)
    for fb in q.feedback:
        yield row("feedback", "up", fb.up, dimension=fb.clause)
        yield row("feedback", "down", fb.down, dimension=fb.clause)
    for top in q.unanswered:
        yield row(
            "top_unanswered",
            "questions",
            top.count,
            dimension=f"group {top.group_id}",
            note=top.example,
        )
    h = report.helpdesk
    for t in [h.total, *h.by_topic]:
        for metric in (
            "opened",
            "replied",
            "closed",
            "first_reply_median",
            "first_reply_p90",
            "close_median",
            "close_p90",
            "sla_breaches",
            "rated",
            "csat",
            "satisfied_share",
        ):
            name = metric + ("_working_minutes" if "median" in metric or "p90" in metric else "")
            yield row("helpdesk", name, getattr(t, metric), dimension=t.topic)
    for f in report.applications.funnels:
        kind = f.kind or "not_chosen"
        for metric in (
            "started",
            "submitted",
            "approved",
            "rejected",
            "under_review",
            "median_days_to_decision",
        ):
            yield row("applications", metric, getattr(f, metric), dimension=kind)
        for step, n in f.abandoned.items():
            yield row("applications_abandoned", "wizards", n, dimension=f"{kind}/{step}")
    for b in report.broadcasts:
        for metric in ("total", "delivered", "blocked", "failed", "waiting"):
            yield row(
                "broadcasts",
                metric,
                getattr(b, metric),
                bucket=b.day,
                dimension=f"#{b.id} {b.kind}",
            )
    for week in report.users:
        who = f"{week.role}/{week.language}"
        yield row("users", "new", week.new, bucket=week.week, dimension=who)
        yield row("users", "active", week.active, bucket=week.week, dimension=who)


def to_csv(report: StatsReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    return out.getvalue()


def to_json(report: StatsReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=1)
