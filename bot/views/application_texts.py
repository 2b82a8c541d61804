"""The application's words: labels, questions, error messages, the summary and the staff card.

Translated through the catalogs (``_()`` in the reader's locale); no keyboards here (those are
in ``bot/views/applications.py``) and nothing sent.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.db.models.applications import Application, ApplicationKind, ApplicationStatus
from bot.i18n import current_locale
from bot.services import validators as v
from bot.services.applications import (
    CONSENTS,
    ApplicationService,
    consent_text,
    load_texts,
    render_rule,
)
from knowledge.programmes import Direction


def ground_label(ground: str) -> str:
    return {
        "disability": _("Child with disabilities (PMPC recommendation) — 5.1.1"),
        "competition": _("Training camps, competitions, contests, festivals — 5.1.2, 5.2"),
        "health": _("Health condition (medical advisory commission) — 5.4.1, 5.4.2"),
        "mobility": _("Academic mobility — 5.4.13"),
        "double_degree": _("Double-degree or exchange programme — 5.4.14"),
    }[ground]


def role_label(role: str) -> str:
    return {
        "student": _("I am the student"),
        "parent": _("I am a parent"),
        "representative": _("I am another legal representative"),
    }[role]


def kind_label(kind: str) -> str:
    return _("Distance learning") if kind == ApplicationKind.DISTANCE.value else _("Online form")


def status_label(status: str) -> str:
    return {
        "submitted": _("submitted, under review"),
        "needs_info": _("more information requested"),
        "approved": _("approved"),
        "rejected": _("rejected"),
    }.get(status, status)


def clerk_label(key: str) -> str:
    """Labels of the summary and the staff card: what a clerk reads, not the buttons."""
    return {
        "ground": _("Ground"),
        "role": _("Applicant"),
        "full_name": _("Student"),
        "iin": _("IIN"),
        "student_id": _("Student ID"),
        "passport": _("No IIN; passport / ID document"),
        "programme": _("Programme"),
        "course": _("Course year"),
        "period": _("Period"),
        "phone": _("Phone"),
        "document": _("Supporting document"),
    }[key]


def applicant_value(role: str | None, name: str | None) -> str:
    who = {
        "student": _("the student themself"),
        "parent": _("a parent"),
        "representative": _("another legal representative"),
    }.get(role or "", "—")
    return f"{who}, {name}" if name and role in ("parent", "representative") else who


def ground_value(ground: str | None) -> str:
    """The ground as the statement words it, with its clauses."""
    if not ground:
        return "—"
    item = load_texts()["grounds"][ground]
    words = str(item["statement"].get(current_locale()) or item["statement"]["kk"])
    return f"{words[:1].upper()}{words[1:]} ({', '.join(item['clauses'])})"


def document_value(kind: str | None, name: str | None) -> str:
    if kind == "in_person":
        return _("will be brought in person")
    if kind == "photo":
        return _("photo attached")
    if kind == "document":
        return _("file attached: {name}").format(name=name or "PDF")
    return "—"


def record_rows(fields: Mapping[str, Any], *, mask: bool = False) -> list[tuple[str, str]]:
    """(label, value) rows of an application's answers, in the order a clerk checks them.

    ``fields`` uses the wizard's keys (``ground``, ``role``, ``id_kind`` …); ``mask`` hides
    all but the last digits of the identifier (the staff chat)."""
    rows: list[tuple[str, str]] = []
    online = fields.get("kind") == ApplicationKind.ONLINE.value
    if not online:
        rows.append((clerk_label("ground"), ground_value(fields.get("ground"))))
        who = applicant_value(fields.get("role"), fields.get("applicant_name"))
        rows.append((clerk_label("role"), who))
    rows.append((clerk_label("full_name"), fields.get("full_name") or "—"))
    id_kind = fields.get("id_kind") or "student_id"
    ident = str(fields.get("id_value") or "—")
    rows.append((clerk_label(id_kind), v.mask_identifier(ident) if mask else ident))
    programme = f"{fields.get('programme_code') or '—'} {fields.get('programme_name') or ''}"
    rows.append((clerk_label("programme"), programme.strip()))
    if not online:
        rows.append((clerk_label("course"), str(fields.get("course") or "—")))
        rows.append(
            (
                clerk_label("period"),
                f"{v.format_date(fields.get('start'))} – {v.format_date(fields.get('end'))}",
            )
        )
    rows.append((clerk_label("phone"), fields.get("phone") or "—"))
    if not online:
        document = document_value(fields.get("doc_kind"), fields.get("doc_name"))
        rows.append((clerk_label("document"), document))
    return rows


def render_rows(rows: list[tuple[str, str]]) -> list[str]:
    return [f"<b>{html.escape(label)}:</b> {html.escape(value)}" for label, value in rows]


def field_label(step: str) -> str:
    return {
        "ground": _("Ground"),
        "role": _("Who applies"),
        "applicant_name": _("Applicant's name"),
        "full_name": _("Student's full name"),
        "identifier": _("Student ID or IIN"),
        "programme": _("Programme"),
        "course": _("Course year"),
        "start": _("Start date"),
        "end": _("End date"),
        "phone": _("Phone"),
        "document": _("Supporting document"),
    }.get(step, step)


def error_text(exc: v.Invalid) -> str:
    p = exc.params
    messages = {
        "name_empty": _("The name is empty."),
        "name_too_long": _("The name is too long (at most {max} characters)."),
        "name_letters": _(
            "The name may contain only Kazakh, Russian or Latin letters, spaces, hyphens and "
            "apostrophes (not: {chars})."
        ),
        "name_words": _("Please write at least the surname and the first name."),
        "doc_format": _("Send the document number as printed in it: 5 to 16 letters and digits."),
        "id_empty": _("The student ID or IIN is empty."),
        "iin_checksum": _(
            "This IIN is not valid: its check digit or date of birth does not match. Check the "
            "12 digits on your ID card."
        ),
        "iin_length": _("An IIN has exactly 12 digits; you sent {length}."),
        "id_format": _(
            "Send a 12-digit IIN or your student ID (4 to 10 letters and digits, as on your "
            "student card)."
        ),
        "course_number": _("Send the course year as a number from 1 to {max}."),
        "course_range": _("The course year must be from 1 to {max}."),
        "date_format": _("Write the date as DD.MM.YYYY, for example 01.02.2027."),
        "date_invalid": _("There is no such date in the calendar."),
        "date_past": _("The date is in the past; the earliest possible start is {today}."),
        "date_far": _("The start is more than {days} days ahead; please check the year."),
        "date_before_start": _("The end must be after the start ({start})."),
        "period_too_long": _(
            "The period is longer than {days} days; one application covers at most one "
            "academic year."
        ),
        "phone_format": _(
            "This does not look like a phone number. Send it as +7 701 234 56 78 or 87012345678."
        ),
        "file_too_big": _(
            "The file is {size} MB; at most {max} MB is accepted. Send a smaller scan or a photo."
        ),
        "file_type": _("Files of type «{type}» are not accepted. Send a photo or a PDF file."),
    }
    template = messages.get(exc.code, _("This answer is not valid."))
    return template.format(**{k: html.escape(str(val)) for k, val in p.items()})


def question(step: str, data: Mapping[str, Any]) -> str:
    level = data.get("programme_level", "bachelor")
    texts = {
        "ground": _(
            "On what ground do you apply for distance learning? Each ground has its clause of "
            "Regulation No. 066."
        ),
        "role": _(
            "Who is applying? The application may come from the student, a parent or another "
            "legal representative (clause 5.2.2)."
        ),
        "applicant_name": _(
            "Your full name (the parent or representative signing the application):"
        ),
        "full_name": _("The student's full name (surname, first name, patronymic if any):"),
        "identifier": _("The student ID or the IIN (12 digits):")
        if not data.get("no_iin")
        else _(
            "The number of the passport or another identity document, as printed in it "
            "(letters and digits):"
        ),
        "programme": _("The code of the educational programme (for example 6B06102) or its name:")
        if not data.get("arts_pending")
        else _(
            "Is your programme in music art or choreography? Press a button below, or send "
            "another programme."
        ),
        "course": _("Which course year? (1 to {max})").format(max=v.MAX_COURSE.get(level, 5)),
        "start": _("First day of the period, as DD.MM.YYYY:"),
        "end": _("Last day of the period, as DD.MM.YYYY:"),
        "phone": _("A phone number to reach you:"),
        "document": _(
            "Send the supporting document (the PMPC recommendation, the medical commission's "
            "conclusion, the invitation or the programme agreement): a photo or a PDF up to "
            "20 MB. Or press «I will bring it in person»."
        ),
    }
    if step.startswith("consent_"):
        key = step.removeprefix("consent_")
        text, version = consent_text(key, current_locale())
        title = consent_title(key)
        return _(
            "<b>{title}</b> (clause 6.7, version {version})\n\n{text}\n\nDo you accept?"
        ).format(title=title, version=version, text=html.escape(text))
    return texts[step]


def consent_title(key: str) -> str:
    return {
        "technical": _("Technical requirements"),
        "personal_data": _("Processing of personal data"),
        "user_agreement": _("The online platform's user agreement"),
    }.get(key, key)


def pedagogical_exception(ground: str | None) -> str:
    """5.4.6's exception in plain words; for a health or disability ground, why to ask."""
    text = _(
        "In plain words: Regulation No. 066 does not allow distance learning in teacher-training "
        "programmes (5.4.6), except in the cases set out in paragraph 2 of article 37-2 of the "
        "Law «On Education». Those cases are written in the Law, not in the Regulation, so I "
        "cannot check whether yours is one of them: the registrar's office decides, case by "
        "case."
    )
    if ground in ("health", "disability"):
        text += "\n\n" + _(
            "With a health condition or a disability it is worth asking. A person from the "
            "Helpdesk can take your case to the office, with the answers you have given so far."
        )
    return text


def pedagogical_refusal() -> str:
    """The end of a distance-learning application for a pedagogical programme (5.4.6)."""
    return (
        _("<b>Distance learning is not possible for this programme.</b>")
        + "\n\n"
        + _(
            "If you believe the exception of paragraph 2 of article 37-2 of the Law «On "
            "Education» applies to you, contact the registrar's office or /human."
        )
        + "\n\n"
        + _("The application was cancelled; nothing was sent.")
    )


def decision_text(app: Application, comment: str | None) -> str:
    """What the applicant is told about the office's decision (in the current language)."""
    texts = {
        ApplicationStatus.APPROVED.value: _(
            "Your application {reference} is <b>approved</b>. The list of disciplines at a "
            "distance is fixed by the Rector's order (5.4.3); your individual plan follows "
            "(5.4.10)."
        ),
        ApplicationStatus.REJECTED.value: _("Your application {reference} is <b>rejected</b>."),
        ApplicationStatus.NEEDS_INFO.value: _(
            "The office needs more information for your application {reference}."
        ),
    }
    text = texts.get(app.status, _("Your application {reference}: {status}.")).format(
        reference=app.reference, status=status_label(app.status)
    )
    if comment:
        text += "\n" + _("Comment: «{comment}»").format(comment=html.escape(comment))
    return text


def summary_text(data: Mapping[str, Any], service: ApplicationService) -> str:
    kind = data.get("kind", "dl")
    lines = [_("<b>Your application: {kind}</b>").format(kind=kind_label(kind)), ""]
    lines += render_rows(record_rows(data))
    if kind == ApplicationKind.ONLINE.value:
        accepted = data.get("consents") or {}
        lines.append(
            _("<b>Accepted:</b> {items}").format(
                items=", ".join(
                    f"{consent_title(k)} ({accepted[k]['version']})"
                    for k in CONSENTS
                    if k in accepted
                )
            )
        )
        lines += ["", _("<b>What you should know before submitting:</b>")]
    else:
        lines += ["", _("<b>Eligibility check:</b>")]
    for rule in service.trace_for(data):
        lines.append(f"• {render_rule(rule)}")
    lines += ["", _("Check the data, then submit.")]
    return "\n".join(lines)


def application_fields(app: Application, direction: Direction | None, lang: str) -> dict[str, Any]:
    """A stored application in the wizard's keys, for :func:`record_rows`."""
    return {
        "kind": app.kind,
        "ground": app.ground,
        "role": app.applicant_role,
        "applicant_name": app.applicant_name,
        "full_name": app.full_name,
        "id_kind": app.identifier_kind,
        "id_value": app.identifier,
        "programme_code": app.programme_code,
        "programme_name": direction.name_in(lang) if direction is not None else "",
        "course": app.course,
        "start": app.period_start,
        "end": app.period_end,
        "phone": app.phone,
        "doc_kind": app.document_kind,
        "doc_name": app.document_name,
    }


def staff_card(app: Application, direction: Direction | None, lang: str) -> str:
    """The card for the office: the answers as a clerk checks them, the rules in their terms."""
    lines = [
        _("<b>New application {reference}</b> — {kind}").format(
            reference=app.reference, kind=kind_label(app.kind)
        ),
        _("Status: <b>{status}</b>").format(status=status_label(app.status)),
        *render_rows(record_rows(application_fields(app, direction, lang), mask=True)),
    ]
    if app.consents:
        lines.append(
            _("<b>Accepted:</b> {items}").format(
                items=", ".join(
                    f"{consent_title(c.consent)} {c.version} ({c.accepted_at:%d.%m.%Y %H:%M} UTC)"
                    for c in app.consents
                )
            )
        )
    lines.append("")
    lines += [f"• {render_rule(rule, for_staff=True)}" for rule in app.trace]
    return "\n".join(lines)


def history_lines(app: Application, settings: Settings) -> list[str]:
    lines = []
    for event in app.events:
        when = event.created_at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
        line = f"  {when} — {status_label(event.status)}"
        if event.comment and event.actor_id is not None:
            line += f": «{html.escape(event.comment)}»"
        lines.append(line)
    return lines
