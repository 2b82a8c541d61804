"""Moving through the application wizard: ask a step's question, show the summary, resume.

The wizard's router and the common commands (a language change asks the question again in the
new language) both take these steps; where to go is decided by
``bot/services/application_steps.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models.applications import Application
from bot.services import application_steps as steps
from bot.services import validators as v
from bot.services.applications import ApplicationService
from bot.services.documents import statement_docx, statement_pdf
from bot.states import ApplyForm
from bot.views.application_texts import question, summary_text
from bot.views.applications import kind_keyboard, step_keyboard, summary_keyboard
from knowledge.programmes import Direction


def state_of(step: str) -> State:
    return cast(State, getattr(ApplyForm, step))


async def ask(message: Message, state: FSMContext, step: str) -> None:
    data = await state.get_data()
    await state.set_state(state_of(step))
    await message.answer(question(step, data), reply_markup=step_keyboard(step, data))


async def ask_kind(message: Message, state: FSMContext) -> None:
    await state.set_state(ApplyForm.kind)
    await message.answer(_("What would you like to apply for?"), reply_markup=kind_keyboard())


async def show_summary(message: Message, state: FSMContext, service: ApplicationService) -> None:
    await state.set_state(ApplyForm.summary)
    data = await state.get_data()
    await message.answer(summary_text(data, service), reply_markup=summary_keyboard())


async def go_to(
    message: Message, state: FSMContext, service: ApplicationService, target: str
) -> None:
    """Show ``target``: a step's question, the summary or the choice of kind."""
    if target == steps.SUMMARY:
        await show_summary(message, state, service)
    elif target == steps.KIND:
        await ask_kind(message, state)
    else:
        await ask(message, state, target)


async def advance(
    message: Message, state: FSMContext, service: ApplicationService, step: str, **values: Any
) -> None:
    """Record the answer to ``step`` and ask what comes next (or show the summary)."""
    data = steps.record(await state.get_data(), step, values)
    await state.set_data(data)
    await go_to(message, state, service, steps.next_after(data, step))


async def resume(message: Message, state: FSMContext, applications: ApplicationService) -> None:
    """An application in progress: say so and ask the question it stopped at."""
    step = steps.step_of(await state.get_state())
    await message.answer(
        _("You have an unfinished application; let us continue where you left off.")
    )
    if step in (None, steps.KIND):
        await message.answer(_("What would you like to apply for?"), reply_markup=kind_keyboard())
    elif step in (steps.SUMMARY, steps.EDIT):
        await show_summary(message, state, applications)
    else:
        await ask(message, state, step)


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


def upload_of(message: Message) -> v.Upload | None:
    """The photo (its largest size) or the file a message carries, for checking and storing."""
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
