"""/offices: the offices directory. Staff read it; admins edit it in place.

Edits are stored as a database overlay on ``knowledge/data/offices.yaml`` (the seed) and are
live at once in every process (the FAQ version row). Clearing a value ("-") puts the office
back to "to be filled by the university": the bot then shows no contact line for it.
"""

from __future__ import annotations

import html
import re

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LANGUAGES
from bot.db.models import Role, User
from bot.filters import RoleFilter, has_role
from bot.i18n import current_locale
from bot.services.faq import EDITABLE_OFFICE_FIELDS, FaqService, office_choices
from knowledge.faq import FaqDataError, Office

_PHONE = re.compile(r"^\+?[\d\s()\-]{5,30}(\s*(доб\.|ext\.?|ішкі)\s*\d{1,6})?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
_TELEGRAM = re.compile(r"^(@[A-Za-z0-9_]{4,32}|https://t\.me/[A-Za-z0-9_/+]{4,64})$")
_WEBSITE = re.compile(r"^https?://[^\s<>\"]{3,200}$")


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


class OfficeCallback(CallbackData, prefix="ofc"):
    action: str  # list, show, edit
    office: str = ""
    field: int = -1  # index into EDITABLE_OFFICE_FIELDS


class OfficeEdit(StatesGroup):
    value = State()


def field_label(key: str) -> str:
    group, _dot, lang = key.partition(".")
    labels = {
        "name": _("Name"),
        "contacts": "",
        "hours": _("🕘 Working hours"),
        "location": _("📍 Location"),
        "keywords": _("🔑 Keywords"),
    }
    contact = {
        "phone": _("☎️ Phone"),
        "email": _("✉️ Email"),
        "telegram": _("💬 Telegram"),
        "website": _("🌐 Website"),
    }
    if group == "contacts":
        return contact[lang]
    label = labels.get(group, group)
    return f"{label} ({lang})" if lang else label


def _unknown() -> str:
    return "<i>" + _("— to be filled by the university") + "</i>"


def office_card(office: Office, lang: str) -> str:
    lines = [f"<b>{_esc(office.name_in(lang))}</b> · <code>{office.id}</code>"]
    for code in LANGUAGES:
        value = office.name.get(code)
        lines.append(f"{field_label('name.' + code)}: {_esc(value) if value else _unknown()}")
    if office.topics:
        lines.append(_("Handles: {topics}").format(topics=_esc(", ".join(office.topics))))
    for key in ("phone", "email", "telegram", "website"):
        value = office.contacts.get(key)
        lines.append(f"{field_label('contacts.' + key)}: {_esc(value) if value else _unknown()}")
    for group, values in (("hours", office.hours), ("location", office.location)):
        for code in LANGUAGES:
            value = values.get(code)
            lines.append(
                f"{field_label(f'{group}.{code}')}: {_esc(value) if value else _unknown()}"
            )
    keywords = ", ".join(office.keywords)
    lines.append(f"{field_label('keywords')}: {_esc(keywords[:600]) or _unknown()}")
    return "\n".join(lines)


def card_keyboard(office: Office, *, editable: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if editable:
        for i, key in enumerate(EDITABLE_OFFICE_FIELDS):
            builder.button(
                text="✏️ " + field_label(key),
                callback_data=OfficeCallback(action="edit", office=office.id, field=i),
            )
    builder.button(text=_("◀️ All offices"), callback_data=OfficeCallback(action="list"))
    builder.adjust(*([2] * (len(EDITABLE_OFFICE_FIELDS) // 2) if editable else []), 1)
    return builder.as_markup()


def list_keyboard(faq: FaqService, lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for office_id, name in office_choices(faq.offices, lang):
        builder.button(
            text=name[:60], callback_data=OfficeCallback(action="show", office=office_id)
        )
    builder.adjust(1)
    return builder.as_markup()


async def offices_command(
    message: Message, faq: FaqService, db_user: User, state: FSMContext
) -> None:
    await state.clear()
    await faq.refresh()
    note = (
        _("Press an office to see it; as an admin you can edit every field.")
        if has_role(db_user, Role.ADMIN)
        else _("Press an office to see it. Admins can edit the directory.")
    )
    await message.answer(
        _("🏢 Offices the bot sends students to ({n}).").format(n=len(faq.offices)) + "\n" + note,
        reply_markup=list_keyboard(faq, current_locale()),
    )


async def on_button(
    callback: CallbackQuery,
    callback_data: OfficeCallback,
    faq: FaqService,
    db_user: User,
    state: FSMContext,
) -> None:
    if not has_role(db_user, Role.STAFF):
        await callback.answer(_("Only staff can see the offices directory."), show_alert=True)
        return
    message = callback.message if isinstance(callback.message, Message) else None
    await callback.answer()
    if message is None:
        return
    await faq.refresh()
    lang = current_locale()
    if callback_data.action == "list":
        await message.answer(
            _("🏢 Offices the bot sends students to ({n}).").format(n=len(faq.offices)),
            reply_markup=list_keyboard(faq, lang),
        )
        return
    office = faq.office(callback_data.office)
    if office is None:
        await message.answer(_("This office is not in the directory."))
        return
    admin = has_role(db_user, Role.ADMIN)
    if (
        callback_data.action == "edit"
        and admin
        and 0 <= callback_data.field < len(EDITABLE_OFFICE_FIELDS)
    ):
        key = EDITABLE_OFFICE_FIELDS[callback_data.field]
        await state.set_state(OfficeEdit.value)
        await state.set_data({"office": office.id, "field": key})
        hint = (
            _("Send the keywords separated by commas (any language).")
            if key == "keywords"
            else _("Send the new value.")
        )
        await message.answer(
            _(
                "«{field}» of «{office}». {hint} Send - to clear it (students then see no such "
                "line); /cancel keeps it."
            ).format(field=field_label(key), office=_esc(office.name_in(lang)), hint=hint),
            reply_markup=ForceReply(selective=True),
        )
        return
    await message.answer(
        office_card(office, lang), reply_markup=card_keyboard(office, editable=admin)
    )


def check_value(key: str, text: str) -> str | None:
    """None when the value is acceptable for the field, else what is wrong (translated)."""
    if key == "contacts.phone" and not _PHONE.match(text):
        return _("That is not a phone number (digits, spaces, +, brackets and dashes).")
    if key == "contacts.email" and not _EMAIL.match(text):
        return _("That is not an email address.")
    if key == "contacts.telegram" and not _TELEGRAM.match(text):
        return _("Send a Telegram @username or a https://t.me/… link.")
    if key == "contacts.website" and not _WEBSITE.match(text):
        return _("Send a web address starting with https://.")
    return None


async def on_value(
    message: Message,
    session: AsyncSession,
    faq: FaqService,
    db_user: User,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    if not has_role(db_user, Role.ADMIN):
        await state.clear()
        return
    key, office_id = str(data.get("field")), str(data.get("office"))
    text = (message.text or "").strip()
    value: str | list[str] | None
    if text == "-":
        value = None
    elif key == "keywords":
        value = [w.strip() for w in text.split(",") if w.strip()][:100]
        if not value:
            value = None
    else:
        problem = check_value(key, text)
        if problem is not None:
            await message.answer(problem + " " + _("Try again, or /cancel."))
            return
        value = text
    try:
        office = await faq.set_office_field(session, office_id, key, value, updated_by=db_user.id)
    except FaqDataError as exc:
        await message.answer(_esc(str(exc)))
        return
    await state.clear()
    await session.commit()
    await faq.refresh()
    office = faq.office(office_id) or office
    await message.answer(
        _("Saved. Students see the change at once.")
        + "\n\n"
        + office_card(office, current_locale()),
        reply_markup=card_keyboard(office, editable=True),
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(offices_command, RoleFilter(Role.STAFF), Command("offices"))
    router.message.register(
        on_value, StateFilter(OfficeEdit.value), F.text, ~F.text.startswith("/")
    )
    router.callback_query.register(on_button, OfficeCallback.filter())
    return router
