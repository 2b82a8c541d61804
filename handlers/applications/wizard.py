"""/apply: the distance-learning transfer and online-form enrollment wizards, /myapplications.

One ``StatesGroup``; the state is the step being asked. Answers collect in FSM data (persisted
by the storage, so the wizard resumes after a restart); ``done`` lists the steps answered, which
lets "edit a field" ask only what the edit invalidated and "back" step to the previous question.
"""

from __future__ import annotations

import html
import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot import menu
from bot.callbacks import StartApplicationCallback
from bot.config import LANGUAGES, Settings
from bot.db.models import User
from bot.db.models.applications import Application, ApplicationKind, ApplicationStatus
from bot.db.models.helpdesk import TicketTopic
from bot.flows.helpdesk import begin_request
from bot.middlewares import WizardRunMiddleware
from bot.services import validators as v
from bot.services.applications import (
    CONSENTS,
    GROUNDS,
    ApplicationService,
    consent_text,
    load_texts,
    render_rule,
)
from bot.services.documents import statement_docx, statement_pdf
from bot.services.helpdesk import HelpdeskService
from bot.services.programmes import render_verdict
from knowledge.programmes import Category, Direction, DLCap, Reason

log = logging.getLogger(__name__)


class ApplyForm(StatesGroup):
    kind = State()
    ground = State()
    role = State()
    applicant_name = State()
    full_name = State()
    identifier = State()
    programme = State()
    course = State()
    start = State()
    end = State()
    phone = State()
    document = State()
    consent_technical = State()
    consent_personal_data = State()
    consent_user_agreement = State()
    summary = State()
    edit = State()


class ReplyForm(StatesGroup):
    """The applicant answers a "more information" request."""

    waiting = State()


class ApplyCallback(CallbackData, prefix="ap"):
    action: str
    value: str = ""


DL_STEPS = (
    "ground",
    "role",
    "applicant_name",
    "full_name",
    "identifier",
    "programme",
    "course",
    "start",
    "end",
    "phone",
    "document",
)
ONLINE_STEPS = (
    "programme",
    "full_name",
    "identifier",
    "phone",
    "consent_technical",
    "consent_personal_data",
    "consent_user_agreement",
)
TEXT_STEPS = (
    ApplyForm.applicant_name,
    ApplyForm.full_name,
    ApplyForm.identifier,
    ApplyForm.programme,
    ApplyForm.course,
    ApplyForm.start,
    ApplyForm.end,
    ApplyForm.phone,
)
# Editing one field makes these answers stale too.
INVALIDATES = {"start": ("end",), "programme": ("course",), "role": ("applicant_name",)}


def steps_for(data: dict[str, Any]) -> list[str]:
    if data.get("kind") == ApplicationKind.ONLINE.value:
        return list(ONLINE_STEPS)
    steps = list(DL_STEPS)
    if data.get("role", "student") == "student":
        steps.remove("applicant_name")
    return steps


def state_of(step: str) -> State:
    state: State = getattr(ApplyForm, step)
    return state


def step_of(state_name: str | None) -> str | None:
    if not state_name or not state_name.startswith("ApplyForm:"):
        return None
    return state_name.split(":", 1)[1]


# --- texts ------------------------------------------------------------------------------------


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
    words = str(item["statement"].get(current_lang()) or item["statement"]["kk"])
    return f"{words[:1].upper()}{words[1:]} ({', '.join(item['clauses'])})"


def document_value(kind: str | None, name: str | None) -> str:
    if kind == "in_person":
        return _("will be brought in person")
    if kind == "photo":
        return _("photo attached")
    if kind == "document":
        return _("file attached: {name}").format(name=name or "PDF")
    return "—"


def record_rows(fields: dict[str, Any], *, mask: bool = False) -> list[tuple[str, str]]:
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
        "doc_format": _(
            "Send the document number as printed in it: 5 to 16 letters and digits."
        ),
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


def question(step: str, data: dict[str, Any]) -> str:
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
        text, version = consent_text(key, current_lang())
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


def current_lang() -> str:
    i18n = I18n.get_current(no_error=True)
    return i18n.current_locale if i18n is not None else "kk"


def step_keyboard(step: str, data: dict[str, Any]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if step == "ground":
        for ground in GROUNDS:
            kb.button(
                text=ground_label(ground),
                callback_data=ApplyCallback(action="ground", value=ground),
            )
    elif step == "role":
        for role in ("student", "parent", "representative"):
            kb.button(
                text=role_label(role), callback_data=ApplyCallback(action="role", value=role)
            )
    elif step == "course":
        for year in range(1, v.MAX_COURSE.get(data.get("programme_level", "bachelor"), 5) + 1):
            kb.button(
                text=str(year), callback_data=ApplyCallback(action="course", value=str(year))
            )
    elif step == "identifier" and not data.get("no_iin"):
        kb.button(text=_("🪪 I have no IIN"), callback_data=ApplyCallback(action="noiin"))
    elif step == "identifier":
        kb.button(text=_("↩️ I have an IIN"), callback_data=ApplyCallback(action="hasiin"))
    elif step == "document":
        kb.button(
            text=_("I will bring it in person"), callback_data=ApplyCallback(action="inperson")
        )
    elif step.startswith("consent_"):
        kb.button(text=_("✅ I accept"), callback_data=ApplyCallback(action="accept"))
    elif step == "programme" and data.get("arts_pending"):
        # 6B021/7M021: the cap depends on the programme (5.4.5 or 5.4.7).
        kb.button(
            text=_("🎼 Music art or choreography"),
            callback_data=ApplyCallback(action="arts", value=DLCap.TWENTY.value),
        )
        kb.button(
            text=_("🎨 Another arts programme"),
            callback_data=ApplyCallback(action="arts", value=DLCap.FIFTY.value),
        )
    elif step == "programme" and data.get("refused_programme"):
        # The programme sent was pedagogical (5.4.6): they may retype it, ask a person whether
        # the exception applies, or stop here.
        kb.button(
            text=_("🙋 Ask a person, with my answers"),
            callback_data=ApplyCallback(action="person"),
        )
        kb.button(text=_("✖️ Stop the application"), callback_data=ApplyCallback(action="stop"))
    kb.button(text=_("⬅️ Back"), callback_data=ApplyCallback(action="back"))
    sizes = {"course": [5, 1]}.get(step, [1])
    kb.adjust(*sizes)
    return kb.as_markup()


def kind_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("Distance learning (ҚО)"), callback_data=ApplyCallback(action="kind", value="dl")
    )
    kb.button(
        text=_("Online form (ООН)"), callback_data=ApplyCallback(action="kind", value="online")
    )
    kb.adjust(1)
    return kb.as_markup()


def summary_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✏️ Edit a field"), callback_data=ApplyCallback(action="edit"))
    kb.button(text=_("✅ Submit"), callback_data=ApplyCallback(action="submit"))
    kb.button(text=_("✖️ Cancel"), callback_data=ApplyCallback(action="cancel"))
    kb.button(text=_("⬅️ Back"), callback_data=ApplyCallback(action="back"))
    kb.adjust(1, 2, 1)
    return kb.as_markup()


def edit_keyboard(data: dict[str, Any]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for step in steps_for(data):
        if step.startswith("consent_"):
            continue
        kb.button(text=field_label(step), callback_data=ApplyCallback(action="field", value=step))
    kb.button(text=_("⬅️ Back"), callback_data=ApplyCallback(action="back"))
    kb.adjust(2)
    return kb.as_markup()


def value_of(step: str, data: dict[str, Any]) -> str:
    if step == "ground":
        return ground_label(data["ground"]) if data.get("ground") else "—"
    if step == "role":
        return role_label(data["role"]) if data.get("role") else "—"
    if step == "identifier":
        kind = clerk_label(data.get("id_kind") or "student_id")
        return f"{kind} {data.get('id_value', '—')}"
    if step == "programme":
        return f"{data.get('programme_code', '—')} {data.get('programme_name', '')}".strip()
    if step in ("start", "end"):
        return v.format_date(data.get(step))
    if step == "document":
        doc_kind = data.get("doc_kind")
        if doc_kind == "in_person":
            return _("will be brought in person")
        if doc_kind == "photo":
            return _("photo attached")
        if doc_kind == "document":
            return _("file attached: {name}").format(name=data.get("doc_name") or "PDF")
        return "—"
    return str(data.get(step) or "—")


def summary_text(data: dict[str, Any], service: ApplicationService) -> str:
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


# --- moving between steps ---------------------------------------------------------------------


async def ask(message: Message, state: FSMContext, step: str) -> None:
    data = await state.get_data()
    await state.set_state(state_of(step))
    await message.answer(question(step, data), reply_markup=step_keyboard(step, data))


async def show_summary(message: Message, state: FSMContext, service: ApplicationService) -> None:
    await state.set_state(ApplyForm.summary)
    data = await state.get_data()
    await message.answer(summary_text(data, service), reply_markup=summary_keyboard())


async def advance(
    message: Message, state: FSMContext, service: ApplicationService, step: str, **values: Any
) -> None:
    """Record the answer to ``step`` and ask what comes next (or show the summary)."""
    data = await state.get_data()
    data.update(values)
    done = [s for s in data.get("done", []) if s != step] + [step]
    for stale in INVALIDATES.get(step, ()):
        if stale in done and data.get("editing"):
            done.remove(stale)
    data["done"] = done
    await state.set_data(data)
    order = steps_for(data)
    if data.get("editing"):
        missing = [s for s in order if s not in done]
        if missing:
            await ask(message, state, missing[0])
        else:
            await show_summary(message, state, service)
        return
    later = order[order.index(step) + 1 :] if step in order else []
    if later:
        await ask(message, state, later[0])
    else:
        await show_summary(message, state, service)


async def go_back(message: Message, state: FSMContext, service: ApplicationService) -> None:
    data = await state.get_data()
    current = step_of(await state.get_state())
    order = steps_for(data)
    if current in ("summary", "edit"):
        if current == "edit":
            await show_summary(message, state, service)
            return
        await ask(message, state, order[-1])
        return
    if current in order and order.index(current) > 0:
        await ask(message, state, order[order.index(current) - 1])
        return
    await state.set_state(ApplyForm.kind)
    await message.answer(_("What would you like to apply for?"), reply_markup=kind_keyboard())


# --- handlers: entry --------------------------------------------------------------------------


async def apply_start(message: Message, state: FSMContext) -> None:
    await state.set_state(ApplyForm.kind)
    await state.set_data({})
    await message.answer(
        _(
            "<b>Applications</b>\n\n"
            "• <b>Distance learning</b>: a transfer for a period, on a ground of section 5 "
            "(health, disability, competitions, academic mobility, double degree).\n"
            "• <b>Online form</b>: enrollment in the online form of study (section 6).\n\n"
            "You can go back at any step; /cancel stops."
        ),
        reply_markup=kind_keyboard(),
    )


async def apply_resume(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    step = step_of(await state.get_state())
    await message.answer(
        _("You have an unfinished application; let us continue where you left off.")
    )
    if step in (None, "kind"):
        await message.answer(_("What would you like to apply for?"), reply_markup=kind_keyboard())
    elif step in ("summary", "edit"):
        await show_summary(message, state, applications)
    else:
        await ask(message, state, step)


async def apply_from_answer(
    callback: CallbackQuery,
    callback_data: StartApplicationCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    """«📝 Apply» under an answer: the wizard with the kind and the ground already chosen (an
    application already in progress is resumed instead)."""
    message = _msg(callback)
    await callback.answer()
    if message is None:
        return
    if step_of(await state.get_state()) is not None:
        await apply_resume(message, state, applications)
        return
    kind = callback_data.kind if callback_data.kind in ("dl", "online") else "dl"
    await state.set_data({"kind": kind, "done": []})
    if kind == "dl" and callback_data.ground in GROUNDS:
        await message.answer(
            _("Distance-learning application. Ground: {ground}.").format(
                ground=ground_label(callback_data.ground)
            )
        )
        await state.set_state(ApplyForm.ground)
        await advance(message, state, applications, "ground", ground=callback_data.ground)
        return
    await ask(message, state, steps_for({"kind": kind})[0])


def _msg(callback: CallbackQuery) -> Message | None:
    return callback.message if isinstance(callback.message, Message) else None


async def on_button(
    callback: CallbackQuery,
    callback_data: ApplyCallback,
    state: FSMContext,
    session: AsyncSession,
    applications: ApplicationService,
    settings: Settings,
    db_user: User,
    bot: Bot,
    helpdesk: HelpdeskService,
) -> None:
    message = _msg(callback)
    action, value = callback_data.action, callback_data.value
    current = step_of(await state.get_state())
    if message is None:
        await callback.answer()
        return
    if current is None and action != "reply":
        await callback.answer(_("This application is no longer open. Send /apply to start."))
        return
    await callback.answer()
    if action == "back":
        await go_back(message, state, applications)
    elif action == "kind" and current == "kind" and value in ("dl", "online"):
        pending = [
            a
            for a in await applications.for_user(session, db_user.id)
            if a.kind == value and a.status_enum.under_review
        ]
        if pending:
            await message.answer(
                _(
                    "Note: your application {reference} of this kind is still under review. "
                    "A new one is reviewed separately; to add to the old one, use /myapplications."
                ).format(reference=pending[-1].reference)
            )
        await state.set_data({"kind": value, "done": []})
        await ask(message, state, steps_for({"kind": value})[0])
    elif action == "ground" and current == "ground" and value in GROUNDS:
        await advance(message, state, applications, "ground", ground=value)
    elif (
        action == "role" and current == "role" and value in ("student", "parent", "representative")
    ):
        extra: dict[str, Any] = {"role": value}
        if value == "student":
            extra["applicant_name"] = None
        await advance(message, state, applications, "role", **extra)
    elif action == "course" and current == "course":
        await take_course(message, state, applications, value)
    elif action == "inperson" and current == "document":
        await advance(
            message,
            state,
            applications,
            "document",
            doc_kind="in_person",
            doc_file_id=None,
            doc_name=None,
        )
    elif action == "accept" and current and current.startswith("consent_"):
        key = current.removeprefix("consent_")
        lang = current_lang()
        _text, version = consent_text(key, lang)
        data = await state.get_data()
        consents = dict(data.get("consents") or {})
        consents[key] = {
            "version": version,
            "language": lang,
            "at": applications.now().isoformat(),
        }
        await advance(message, state, applications, current, consents=consents)
    elif action == "edit" and current == "summary":
        await state.set_state(ApplyForm.edit)
        await message.answer(
            _("Which field do you want to change?"),
            reply_markup=edit_keyboard(await state.get_data()),
        )
    elif action == "field" and current == "edit":
        data = await state.get_data()
        if value in steps_for(data):
            data["editing"] = True
            data["done"] = [s for s in data.get("done", []) if s != value]
            await state.set_data(data)
            await ask(message, state, value)
    elif action == "noiin" and current == "identifier":
        await state.update_data(no_iin=True)
        await ask(message, state, "identifier")
    elif action == "hasiin" and current == "identifier":
        await state.update_data(no_iin=False)
        await ask(message, state, "identifier")
    elif action == "arts" and current == "programme" and value in ("20", "50"):
        arts = (await state.get_data()).get("arts_pending")
        if not isinstance(arts, dict):
            await apply_resume(message, state, applications)
            return
        await advance(
            message,
            state,
            applications,
            "programme",
            **{**arts, "dl_cap": value, "arts_pending": None},
        )
    elif action == "person" and current == "programme":
        data = await state.get_data()
        if not data.get("refused_programme"):
            await apply_resume(message, state, applications)
            return
        await ask_person_about_exception(
            message, state, session, db_user, helpdesk, settings, data
        )
    elif action == "stop" and current == "programme":
        data = await state.get_data()
        if not data.get("refused_programme"):
            await apply_resume(message, state, applications)
            return
        await state.clear()
        await message.answer(pedagogical_refusal(), reply_markup=menu.main_menu())
    elif action == "cancel" and current in ("summary", "edit"):
        await state.clear()
        await message.answer(
            _("The application was cancelled; nothing was sent."), reply_markup=menu.main_menu()
        )
    elif action == "submit" and current == "summary":
        await submit(message, state, session, applications, settings, db_user, bot)
    else:
        # A button of an earlier question: show where we are instead.
        await apply_resume(message, state, applications)


# --- handlers: answers ------------------------------------------------------------------------


async def take_course(
    message: Message, state: FSMContext, service: ApplicationService, text: str
) -> None:
    data = await state.get_data()
    try:
        year = v.course_year(text, data.get("programme_level", "bachelor"))
    except v.Invalid as exc:
        await message.answer(error_text(exc))
        await ask(message, state, "course")
        return
    await advance(message, state, service, "course", course=year)


async def on_text(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    step = step_of(await state.get_state()) or ""
    text = message.text or ""
    data = await state.get_data()
    try:
        if step == "applicant_name":
            await advance(message, state, applications, step, applicant_name=v.full_name(text))
        elif step == "full_name":
            await advance(message, state, applications, step, full_name=v.full_name(text))
        elif step == "identifier":
            ident = (
                v.document_number(text) if data.get("no_iin") else v.student_identifier(text)
            )
            await advance(
                message, state, applications, step, id_kind=ident.kind, id_value=ident.value
            )
        elif step == "programme":
            await take_programme(message, state, applications, text, data)
        elif step == "course":
            await take_course(message, state, applications, text)
        elif step == "start":
            start = v.start_date(text, applications.today())
            await advance(message, state, applications, step, start=start.isoformat())
        elif step == "end":
            first = v.as_date(data.get("start"))
            if first is None:
                await ask(message, state, "start")
                return
            end = v.end_date(text, first)
            await advance(message, state, applications, step, end=end.isoformat())
        elif step == "phone":
            await advance(message, state, applications, step, phone=v.phone(text))
    except v.Invalid as exc:
        await message.answer(error_text(exc))
        await ask(message, state, step)


async def on_contact(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    number = message.contact.phone_number if message.contact else ""
    try:
        value = v.phone(number if number.startswith("+") else "+" + number)
    except v.Invalid as exc:
        await message.answer(error_text(exc))
        await ask(message, state, "phone")
        return
    await advance(message, state, applications, "phone", phone=value)


async def take_programme(
    message: Message,
    state: FSMContext,
    service: ApplicationService,
    text: str,
    data: dict[str, Any],
) -> None:
    lang = current_lang()
    result = service.lookup(text)
    single = len(result.candidates) == 1 and (
        result.reason is None or result.reason is Reason.ARTS_PROGRAMME
    )
    online = data.get("kind") == ApplicationKind.ONLINE.value
    # "ветеринария" names 6B091 and 7M091: if none allows the online form, say so now.
    banned = bool(result.candidates) and not any(
        c.verdict.online_allowed for c in result.candidates
    )
    if not single and not (online and banned):
        hint = render_verdict(result, lang)
        if result.candidates:
            hint += "\n\n" + _("Send the exact code of your programme (6B… or 7M…).")
        await message.answer(hint)
        await ask(message, state, "programme")
        return
    cand = result.candidates[0]
    direction = cand.direction
    if online and not cand.verdict.online_allowed:
        await state.clear()
        await message.answer(
            _("<b>The online form is not possible for this direction.</b>")
            + "\n\n"
            + render_verdict(result, lang)
            + "\n\n"
            + _(
                "What is allowed instead: the full-time form, with part of the disciplines at a "
                "distance within the cap above. /apply → «Distance learning» if you have one of "
                "its grounds."
            ),
            reply_markup=menu.main_menu(),
        )
        return
    if not online and direction.category is Category.PEDAGOGICAL:
        # 5.4.6: no distance learning for pedagogical programmes. The code may simply be
        # mistyped, so keep every answer and ask for the programme again, like any invalid
        # answer; «Stop the application» ends it if the programme really is pedagogical.
        await state.update_data(
            refused_programme=result.code or direction.code, arts_pending=None
        )
        await message.answer(
            _("<b>Distance learning is not possible for this programme.</b>")
            + "\n\n"
            + render_verdict(result, lang)
            + "\n\n"
            + pedagogical_exception(data.get("ground"))
            + "\n\n"
            + _(
                "If you made a mistake in the code, send your programme again: your other "
                "answers are kept. If this is your programme, press «✖️ Stop the application»."
            )
        )
        await ask(message, state, "programme")
        return
    values = {
        "refused_programme": None,
        "programme_code": result.code if result.code and len(result.code) > 5 else direction.code,
        "programme_name": direction.name_in(lang),
        "programme_level": direction.level,
        "dl_cap": str(cand.verdict.dl_cap),
    }
    if not online and cand.verdict.dl_cap is DLCap.ASK:
        # Arts (6B021): music art and choreography 20 % (5.4.5), the others 50 % (5.4.7).
        # The verdict ends with that question; the answer is a button.
        await state.update_data(refused_programme=None, arts_pending=values)
        await message.answer(render_verdict(result, lang))
        await ask(message, state, "programme")
        return
    await message.answer(render_verdict(result, lang))
    await advance(message, state, service, "programme", arts_pending=None, **values)


async def on_upload(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    upload = upload_of(message)
    if upload is None:
        await message.answer(error_text(v.Invalid("file_type", type="?")))
        await ask(message, state, "document")
        return
    try:
        v.check_upload(upload)
    except v.Invalid as exc:
        await message.answer(error_text(exc))
        await ask(message, state, "document")
        return
    await advance(
        message,
        state,
        applications,
        "document",
        doc_kind=upload.kind,
        doc_file_id=upload.file_id,
        doc_name=upload.file_name,
    )


def upload_of(message: Message) -> v.Upload | None:
    if message.photo:
        best = message.photo[-1]
        return v.Upload(
            "photo", best.file_id, best.file_unique_id, None, "image/jpeg", best.file_size
        )
    if message.document:
        d = message.document
        return v.Upload(
            "document", d.file_id, d.file_unique_id, d.file_name, d.mime_type, d.file_size
        )
    return None


async def document_text(message: Message, state: FSMContext) -> None:
    await message.answer(
        _("Please send a photo or a PDF file, or press «I will bring it in person».")
    )
    await ask(message, state, "document")


async def on_other(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    """Something that is not an answer (a sticker, a file where text is expected)."""
    await message.answer(_("Please answer the question above, or send /cancel to stop."))
    step = step_of(await state.get_state())
    if step in ("summary", "edit"):
        await show_summary(message, state, applications)
    elif step and step != "kind":
        await ask(message, state, step)


async def ask_person_about_exception(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    settings: Settings,
    data: dict[str, Any],
) -> None:
    """5.4.6: the student asks the office about the exception; the answers go with the ticket."""
    i18n = I18n.get_current(no_error=True)
    staff_lang = settings.default_language
    refused = {**data, "programme_code": data.get("refused_programme")}
    with i18n.use_locale(staff_lang) if i18n is not None else nullcontext():
        attachment = "\n".join(
            [
                _(
                    "📎 <b>Unfinished application ({kind})</b>: teacher-training programme "
                    "{programme}, distance learning refused by 5.4.6; the student asks whether "
                    "the exception of art. 37-2 p. 2 of the Law «On Education» applies."
                ).format(
                    kind=kind_label(data.get("kind", "dl")),
                    programme=html.escape(str(data.get("refused_programme") or "—")),
                ),
                *render_rows(record_rows(refused, mask=True)),
            ]
        )
    await begin_request(
        message,
        state,
        session,
        db_user,
        helpdesk,
        topic=TicketTopic.APPLICATION,
        attachment=attachment,
    )


# --- submitting -------------------------------------------------------------------------------


async def submit(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    service: ApplicationService,
    settings: Settings,
    db_user: User,
    bot: Bot,
) -> None:
    data = await state.get_data()
    missing = [s for s in steps_for(data) if s not in data.get("done", [])]
    if missing:
        await ask(message, state, missing[0])
        return
    lang = current_lang()
    app = await service.create(session, user_id=db_user.id, language=lang, data=data)
    # The wizard ends in the same commit as the application is stored.
    await state.clear()
    await session.commit()
    direction = service.direction(app.programme_code)
    local = service.now().astimezone(settings.tz)
    docx = statement_docx(app, direction, local)
    if settings.staff_chat_id is None:
        # Nobody would get it: say so instead of promising a review.
        log.warning("STAFF_CHAT_ID is not set: application %s reaches no one", app.reference)
        submitted = _(
            "Your application is saved. Reference number: <b>{reference}</b>.\n"
            "⚠️ This assistant is not connected to the office yet, so nobody has received it: "
            "please take the statement below to the registrar's office in person. "
            "/myapplications shows what is saved."
        )
    else:
        submitted = _(
            "Your application is submitted. Reference number: <b>{reference}</b>.\n"
            "The office will review it; I will tell you about every change. "
            "/myapplications shows its status."
        )
    await message.answer(
        submitted.format(reference=app.reference), reply_markup=menu.main_menu()
    )
    await send_statement(message, app, direction, local, app.language)
    copies = [lang for lang in OFFICE_LANGUAGES if lang != app.language]
    await message.answer(
        _("The office works in Kazakh and Russian. Would you like the statement in:"),
        reply_markup=copies_keyboard(app, copies),
    )
    from handlers.applications_staff import send_to_staff

    office = None
    if app.language != settings.default_language:
        office = statement_docx(app, direction, local, settings.default_language)
    await send_to_staff(
        bot, settings, app, docx=docx, direction=direction, office_docx=office
    )


OFFICE_LANGUAGES = ("kk", "ru")


class StatementCallback(CallbackData, prefix="apcopy"):
    """A copy of a submitted statement in another language."""

    id: int
    lang: str


def copies_keyboard(app: Application, langs: list[str]) -> InlineKeyboardMarkup:
    names = {"kk": _("📄 Kazakh"), "ru": _("📄 Russian"), "en": _("📄 English")}
    kb = InlineKeyboardBuilder()
    for lang in langs:
        kb.button(text=names[lang], callback_data=StatementCallback(id=app.id, lang=lang))
    kb.adjust(len(langs))
    return kb.as_markup()


async def send_statement(
    message: Message,
    app: Application,
    direction: Direction | None,
    local: datetime,
    lang: str,
) -> None:
    """The statement as DOCX (and PDF when a font is installed) in ``lang``."""
    suffix = "" if lang == app.language else f"-{lang}"
    docx = statement_docx(app, direction, local, lang)
    await message.answer_document(
        BufferedInputFile(docx, filename=f"{app.reference}{suffix}.docx"),
        caption=_(
            "Your statement to the Rector ({reference}). Print and sign it if the office asks."
        ).format(reference=app.reference),
    )
    pdf = statement_pdf(app, direction, local, lang)
    if pdf is not None:
        await message.answer_document(
            BufferedInputFile(pdf, filename=f"{app.reference}{suffix}.pdf"),
            caption=_("The same statement as PDF ({reference}).").format(reference=app.reference),
        )


async def statement_copy(
    callback: CallbackQuery,
    callback_data: StatementCallback,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
) -> None:
    app = await applications.get(session, callback_data.id)
    if app is None or app.user_id != db_user.id or callback_data.lang not in LANGUAGES:
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    message = _msg(callback)
    if message is None:
        return
    local = app.created_at.astimezone(settings.tz)
    await send_statement(
        message, app, applications.direction(app.programme_code), local, callback_data.lang
    )


# --- /myapplications and replies --------------------------------------------------------------


def history_lines(app: Application, settings: Settings) -> list[str]:
    lines = []
    for event in app.events:
        when = event.created_at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
        line = f"  {when} — {status_label(event.status)}"
        if event.comment and event.actor_id is not None:
            line += f": «{html.escape(event.comment)}»"
        lines.append(line)
    return lines


async def my_applications(
    message: Message,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
) -> None:
    apps = await applications.for_user(session, db_user.id)
    if not apps:
        await message.answer(_("You have no applications yet. /apply starts one."))
        return
    blocks = [_("<b>Your applications</b>")]
    for app in apps:
        block = [
            f"\n<b>{app.reference}</b> — {kind_label(app.kind)}, "
            f"{html.escape(app.programme_code or '')}",
            _("Status: <b>{status}</b>").format(status=status_label(app.status)),
            _("History:"),
            *history_lines(app, settings),
        ]
        blocks.append("\n".join(block))
    waiting = [a for a in apps if a.status == ApplicationStatus.NEEDS_INFO.value]
    markup = None
    if waiting:
        kb = InlineKeyboardBuilder()
        for app in waiting:
            kb.button(
                text=_("✉️ Answer {reference}").format(reference=app.reference),
                callback_data=ApplyCallback(action="reply", value=str(app.id)),
            )
        kb.adjust(1)
        markup = kb.as_markup()
    # The newest applications matter most: keep the tail when the list is long.
    text = "\n".join(blocks)
    if len(text) > 4000:
        text = blocks[0] + "\n…" + text[-3900:]
    await message.answer(text, reply_markup=markup)


async def reply_start(
    callback: CallbackQuery,
    callback_data: ApplyCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
) -> None:
    app = await applications.get(session, int(callback_data.value or 0))
    if (
        app is None
        or app.user_id != db_user.id
        or app.status != ApplicationStatus.NEEDS_INFO.value
    ):
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    await state.set_state(ReplyForm.waiting)
    await state.set_data({"app_id": app.id})
    message = _msg(callback)
    if message is not None:
        await message.answer(
            _("Send your answer for {reference}: a text, a photo or a PDF file.").format(
                reference=app.reference
            )
        )


async def reply_received(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
    bot: Bot,
) -> None:
    data = await state.get_data()
    app = await applications.get(session, int(data.get("app_id") or 0))
    await state.clear()
    if (
        app is None
        or app.user_id != db_user.id
        or app.status != ApplicationStatus.NEEDS_INFO.value
    ):
        await message.answer(_("This application is no longer waiting for information."))
        return
    upload = upload_of(message)
    if upload is not None:
        try:
            v.check_upload(upload)
        except v.Invalid as exc:
            await message.answer(error_text(exc))
            return
    text = (message.text or message.caption or "").strip()[:2000] or None
    await applications.add_reply(
        session,
        app,
        actor_id=db_user.id,
        comment=text,
        file_id=upload.file_id if upload else None,
        file_name=upload.file_name if upload else None,
        file_kind=upload.kind if upload else None,
    )
    await session.commit()
    await message.answer(
        _("Thank you. {reference} is back under review.").format(reference=app.reference)
    )
    from handlers.applications_staff import send_to_staff

    await send_to_staff(
        bot,
        settings,
        app,
        docx=None,
        direction=applications.direction(app.programme_code),
        reply_text=text,
        reply_upload=upload,
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    # issue 13: each run of the wizard (started, step reached, submitted or left) for /stats
    runs = WizardRunMiddleware("ApplyForm", "apply")
    router.message.middleware(runs)
    router.callback_query.middleware(runs)
    any_apply = StateFilter(*ApplyForm.__states__)
    router.message.register(apply_resume, Command("apply"), any_apply)
    router.message.register(apply_resume, any_apply, F.text == menu.MENU_APPLY)
    router.message.register(apply_start, Command("apply"))
    router.message.register(apply_start, StateFilter(None), F.text == menu.MENU_APPLY)
    router.message.register(on_other, any_apply, F.text == menu.MENU_ASK)
    router.message.register(my_applications, Command("myapplications"))
    router.callback_query.register(reply_start, ApplyCallback.filter(F.action == "reply"))
    router.callback_query.register(apply_from_answer, StartApplicationCallback.filter())
    router.callback_query.register(statement_copy, StatementCallback.filter())
    router.callback_query.register(on_button, ApplyCallback.filter())
    router.message.register(
        reply_received, StateFilter(ReplyForm.waiting), F.text | F.photo | F.document,
        menu.not_menu_item,
    )
    router.message.register(on_contact, StateFilter(ApplyForm.phone), F.contact)
    router.message.register(
        on_text, StateFilter(*TEXT_STEPS), F.text, ~F.text.startswith("/"), menu.not_menu_item
    )
    router.message.register(on_upload, StateFilter(ApplyForm.document), F.photo | F.document)
    router.message.register(
        document_text, StateFilter(ApplyForm.document), F.text, ~F.text.startswith("/"),
        menu.not_menu_item,
    )
    router.message.register(on_other, any_apply, ~F.text.startswith("/"), menu.not_menu_item)
    return router
