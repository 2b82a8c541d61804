"""/apply: the distance-learning transfer and online-form enrollment wizards.

One handler per step and per button. What a step asks and shows is in ``bot/views``; which step
comes next is decided by ``bot/services/application_steps.py`` (pure) and carried out by
``bot/flows/applications.py``; the state is the step being asked (``bot/states.ApplyForm``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot import menu
from bot.callbacks import StartApplicationCallback
from bot.config import Settings
from bot.db.models import User
from bot.db.models.applications import ApplicationKind
from bot.db.models.helpdesk import TicketTopic
from bot.flows.applications import advance, ask, go_to, resume, send_statement, upload_of
from bot.flows.helpdesk import begin_request
from bot.i18n import current_locale
from bot.notifications.applications import send_to_staff
from bot.services import application_steps as steps
from bot.services import validators as v
from bot.services.applications import GROUNDS, ApplicationService, consent_text
from bot.services.documents import statement_docx
from bot.services.helpdesk import HelpdeskService
from bot.services.programmes import render_verdict
from bot.states import ApplyForm
from bot.views.application_texts import (
    error_text,
    ground_label,
    kind_label,
    pedagogical_exception,
    pedagogical_refusal,
    record_rows,
    render_rows,
)
from bot.views.applications import (
    OFFICE_LANGUAGES,
    ApplyCallback,
    copies_keyboard,
    edit_keyboard,
    kind_keyboard,
)
from knowledge.programmes import Category, DLCap, Reason

log = logging.getLogger(__name__)


# --- entry ------------------------------------------------------------------------------------


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
    await resume(message, state, applications)


async def apply_from_answer(
    callback: CallbackQuery,
    callback_data: StartApplicationCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    """«📝 Apply» under an answer: the wizard with the kind and the ground already chosen (an
    application already in progress is resumed instead)."""
    message = callback.message if isinstance(callback.message, Message) else None
    await callback.answer()
    if message is None:
        return
    if steps.step_of(await state.get_state()) is not None:
        await resume(message, state, applications)
        return
    kind = callback_data.kind if callback_data.kind in steps.KINDS else "dl"
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
    await ask(message, state, steps.steps_for({"kind": kind})[0])


# --- buttons ----------------------------------------------------------------------------------


class Shown(Filter):
    """The button's message can still be answered; handed on as ``message``. (A press on an
    inaccessible message goes to :func:`on_stale_button`.)"""

    async def __call__(self, callback: CallbackQuery) -> bool | dict[str, Any]:
        if not isinstance(callback.message, Message):
            return False
        return {"message": callback.message}


async def on_back(
    callback: CallbackQuery, message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await callback.answer()
    target = steps.back_from(await state.get_data(), steps.step_of(await state.get_state()))
    await go_to(message, state, applications, target)


async def on_kind(
    callback: CallbackQuery,
    message: Message,
    callback_data: ApplyCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    kind = callback_data.value
    pending = [
        a
        for a in await applications.for_user(session, db_user.id)
        if a.kind == kind and a.status_enum.under_review
    ]
    if pending:
        await message.answer(
            _(
                "Note: your application {reference} of this kind is still under review. "
                "A new one is reviewed separately; to add to the old one, use /myapplications."
            ).format(reference=pending[-1].reference)
        )
    await state.set_data({"kind": kind, "done": []})
    await ask(message, state, steps.steps_for({"kind": kind})[0])


async def on_ground(
    callback: CallbackQuery,
    message: Message,
    callback_data: ApplyCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    await advance(message, state, applications, "ground", ground=callback_data.value)


async def on_role(
    callback: CallbackQuery,
    message: Message,
    callback_data: ApplyCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    extra: dict[str, Any] = {"role": callback_data.value}
    if callback_data.value == "student":
        extra["applicant_name"] = None
    await advance(message, state, applications, "role", **extra)


async def on_course_button(
    callback: CallbackQuery,
    message: Message,
    callback_data: ApplyCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    await take_course(message, state, applications, callback_data.value)


async def on_no_iin(callback: CallbackQuery, message: Message, state: FSMContext) -> None:
    await callback.answer()
    await state.update_data(no_iin=True)
    await ask(message, state, "identifier")


async def on_has_iin(callback: CallbackQuery, message: Message, state: FSMContext) -> None:
    await callback.answer()
    await state.update_data(no_iin=False)
    await ask(message, state, "identifier")


async def on_arts(
    callback: CallbackQuery,
    message: Message,
    callback_data: ApplyCallback,
    state: FSMContext,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    arts = (await state.get_data()).get("arts_pending")
    if not isinstance(arts, dict):
        await resume(message, state, applications)
        return
    await advance(
        message,
        state,
        applications,
        "programme",
        **{**arts, "dl_cap": callback_data.value, "arts_pending": None},
    )


async def on_ask_person(
    callback: CallbackQuery,
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    settings: Settings,
    applications: ApplicationService,
) -> None:
    await callback.answer()
    data = await state.get_data()
    if not data.get("refused_programme"):
        await resume(message, state, applications)
        return
    await ask_person_about_exception(message, state, session, db_user, helpdesk, settings, data)


async def on_stop(
    callback: CallbackQuery, message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await callback.answer()
    if not (await state.get_data()).get("refused_programme"):
        await resume(message, state, applications)
        return
    await state.clear()
    await message.answer(pedagogical_refusal(), reply_markup=menu.main_menu())


async def on_in_person(
    callback: CallbackQuery, message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await callback.answer()
    await advance(
        message,
        state,
        applications,
        "document",
        doc_kind="in_person",
        doc_file_id=None,
        doc_name=None,
    )


async def on_accept(
    callback: CallbackQuery, message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await callback.answer()
    current = steps.step_of(await state.get_state()) or ""
    key = current.removeprefix("consent_")
    lang = current_locale()
    _text, version = consent_text(key, lang)
    data = await state.get_data()
    consents = dict(data.get("consents") or {})
    consents[key] = {"version": version, "language": lang, "at": applications.now().isoformat()}
    await advance(message, state, applications, current, consents=consents)


async def on_edit(callback: CallbackQuery, message: Message, state: FSMContext) -> None:
    await callback.answer()
    await state.set_state(ApplyForm.edit)
    await message.answer(
        _("Which field do you want to change?"),
        reply_markup=edit_keyboard(await state.get_data()),
    )


async def on_field(
    callback: CallbackQuery, message: Message, callback_data: ApplyCallback, state: FSMContext
) -> None:
    await callback.answer()
    data = steps.reopen(await state.get_data(), callback_data.value)
    if data is not None:
        await state.set_data(data)
        await ask(message, state, callback_data.value)


async def on_cancel(callback: CallbackQuery, message: Message, state: FSMContext) -> None:
    await callback.answer()
    await state.clear()
    await message.answer(
        _("The application was cancelled; nothing was sent."), reply_markup=menu.main_menu()
    )


async def on_submit(
    callback: CallbackQuery,
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    applications: ApplicationService,
    settings: Settings,
    db_user: User,
    bot: Bot,
) -> None:
    await callback.answer()
    await submit(message, state, session, applications, settings, db_user, bot)


async def on_stale_button(
    callback: CallbackQuery, state: FSMContext, applications: ApplicationService
) -> None:
    """A button of an earlier question (or of a wizard that ended): say where we are."""
    message = callback.message if isinstance(callback.message, Message) else None
    if message is None:
        await callback.answer()
        return
    if steps.step_of(await state.get_state()) is None:
        await callback.answer(_("This application is no longer open. Send /apply to start."))
        return
    await callback.answer()
    await resume(message, state, applications)


# --- typed answers ----------------------------------------------------------------------------

Parse = Callable[[str, dict[str, Any]], dict[str, Any]]


async def take_text(
    message: Message,
    state: FSMContext,
    service: ApplicationService,
    step: str,
    parse: Parse,
    text: str | None = None,
) -> None:
    """Record ``parse(text, draft)`` (the message's text by default) as the answer to ``step``;
    an invalid answer is explained and the question asked again."""
    try:
        values = parse(message.text or "" if text is None else text, await state.get_data())
    except v.Invalid as exc:
        await message.answer(error_text(exc))
        await ask(message, state, step)
        return
    await advance(message, state, service, step, **values)


async def on_applicant_name(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await take_text(
        message,
        state,
        applications,
        "applicant_name",
        lambda text, _data: {"applicant_name": v.full_name(text)},
    )


async def on_full_name(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await take_text(
        message,
        state,
        applications,
        "full_name",
        lambda text, _data: {"full_name": v.full_name(text)},
    )


def _identifier(text: str, data: dict[str, Any]) -> dict[str, Any]:
    ident = v.document_number(text) if data.get("no_iin") else v.student_identifier(text)
    return {"id_kind": ident.kind, "id_value": ident.value}


async def on_identifier(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await take_text(message, state, applications, "identifier", _identifier)


async def on_programme(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await take_programme(message, state, applications, message.text or "", await state.get_data())


async def on_course(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    await take_course(message, state, applications, message.text or "")


async def on_start_date(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    await take_text(
        message,
        state,
        applications,
        "start",
        lambda text, _data: {"start": v.start_date(text, applications.today()).isoformat()},
    )


async def on_end_date(
    message: Message, state: FSMContext, applications: ApplicationService
) -> None:
    first = v.as_date((await state.get_data()).get("start"))
    if first is None:
        await ask(message, state, "start")
        return
    await take_text(
        message,
        state,
        applications,
        "end",
        lambda text, _data: {"end": v.end_date(text, first).isoformat()},
    )


async def on_phone(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    await take_text(
        message, state, applications, "phone", lambda text, _data: {"phone": v.phone(text)}
    )


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


async def take_course(
    message: Message, state: FSMContext, service: ApplicationService, text: str
) -> None:
    """The course year, typed or pressed (a button's value)."""
    await take_text(
        message,
        state,
        service,
        "course",
        lambda typed, data: {
            "course": v.course_year(typed, data.get("programme_level", "bachelor"))
        },
        text,
    )


async def take_programme(
    message: Message,
    state: FSMContext,
    service: ApplicationService,
    text: str,
    data: dict[str, Any],
) -> None:
    lang = current_locale()
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
        await state.update_data(refused_programme=result.code or direction.code, arts_pending=None)
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


async def document_text(message: Message, state: FSMContext) -> None:
    await message.answer(
        _("Please send a photo or a PDF file, or press «I will bring it in person».")
    )
    await ask(message, state, "document")


async def on_other(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    """Something that is not an answer (a sticker, a file where text is expected)."""
    await message.answer(_("Please answer the question above, or send /cancel to stop."))
    step = steps.step_of(await state.get_state())
    if step in (steps.SUMMARY, steps.EDIT):
        await go_to(message, state, applications, steps.SUMMARY)
    elif step and step != steps.KIND:
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
    missing = steps.missing(data)
    if missing:
        await ask(message, state, missing[0])
        return
    lang = current_locale()
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
    await message.answer(submitted.format(reference=app.reference), reply_markup=menu.main_menu())
    await send_statement(message, app, direction, local, app.language)
    copies = [lang for lang in OFFICE_LANGUAGES if lang != app.language]
    await message.answer(
        _("The office works in Kazakh and Russian. Would you like the statement in:"),
        reply_markup=copies_keyboard(app, copies),
    )
    office = None
    if app.language != settings.default_language:
        office = statement_docx(app, direction, local, settings.default_language)
    await send_to_staff(bot, settings, app, docx=docx, direction=direction, office_docx=office)


def create_router() -> Router:
    router = Router(name=__name__)
    any_apply = StateFilter(*ApplyForm.__states__)
    router.message.register(apply_resume, Command("apply"), any_apply)
    router.message.register(apply_resume, any_apply, F.text == menu.MENU_APPLY)
    router.message.register(apply_start, Command("apply"))
    router.message.register(apply_start, StateFilter(None), F.text == menu.MENU_APPLY)
    router.message.register(on_other, any_apply, F.text == menu.MENU_ASK)
    router.callback_query.register(apply_from_answer, StartApplicationCallback.filter())

    def button(handler: Callable[..., Any], step: str, action: Any) -> None:
        router.callback_query.register(
            handler, StateFilter(getattr(ApplyForm, step)), ApplyCallback.filter(action), Shown()
        )

    router.callback_query.register(
        on_back, any_apply, ApplyCallback.filter(F.action == "back"), Shown()
    )
    button(on_kind, "kind", (F.action == "kind") & F.value.in_(steps.KINDS))
    button(on_ground, "ground", (F.action == "ground") & F.value.in_(GROUNDS))
    button(on_role, "role", (F.action == "role") & F.value.in_(steps.ROLES))
    button(on_course_button, "course", F.action == "course")
    button(on_no_iin, "identifier", F.action == "noiin")
    button(on_has_iin, "identifier", F.action == "hasiin")
    button(
        on_arts,
        "programme",
        (F.action == "arts") & F.value.in_((DLCap.TWENTY.value, DLCap.FIFTY.value)),
    )
    button(on_ask_person, "programme", F.action == "person")
    button(on_stop, "programme", F.action == "stop")
    button(on_in_person, "document", F.action == "inperson")
    router.callback_query.register(
        on_accept,
        StateFilter(
            ApplyForm.consent_technical,
            ApplyForm.consent_personal_data,
            ApplyForm.consent_user_agreement,
        ),
        ApplyCallback.filter(F.action == "accept"),
        Shown(),
    )
    button(on_edit, "summary", F.action == "edit")
    button(on_submit, "summary", F.action == "submit")
    button(on_field, "edit", F.action == "field")
    router.callback_query.register(
        on_cancel,
        StateFilter(ApplyForm.summary, ApplyForm.edit),
        ApplyCallback.filter(F.action == "cancel"),
        Shown(),
    )
    # «✉️ Answer» (action "reply") is /myapplications' (handlers/applications/mine.py).
    router.callback_query.register(on_stale_button, ApplyCallback.filter(F.action != "reply"))

    typed = (F.text, ~F.text.startswith("/"), menu.not_menu_item)
    router.message.register(on_contact, StateFilter(ApplyForm.phone), F.contact)
    router.message.register(on_applicant_name, StateFilter(ApplyForm.applicant_name), *typed)
    router.message.register(on_full_name, StateFilter(ApplyForm.full_name), *typed)
    router.message.register(on_identifier, StateFilter(ApplyForm.identifier), *typed)
    router.message.register(on_programme, StateFilter(ApplyForm.programme), *typed)
    router.message.register(on_course, StateFilter(ApplyForm.course), *typed)
    router.message.register(on_start_date, StateFilter(ApplyForm.start), *typed)
    router.message.register(on_end_date, StateFilter(ApplyForm.end), *typed)
    router.message.register(on_phone, StateFilter(ApplyForm.phone), *typed)
    router.message.register(on_upload, StateFilter(ApplyForm.document), F.photo | F.document)
    router.message.register(document_text, StateFilter(ApplyForm.document), *typed)
    router.message.register(on_other, any_apply, ~F.text.startswith("/"), menu.not_menu_item)
    return router
