"""The application's buttons: callback data and keyboards of the wizard, the applicant's list
and the staff card. The wire formats (``ap:kind:dl``, ``apcopy:…``, ``apd:…``) are kept: buttons
already sent must keep working."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.db.models.applications import Application
from bot.services import validators as v
from bot.services.application_steps import ROLES, steps_for
from bot.services.applications import GROUNDS
from bot.views.application_texts import field_label, ground_label, role_label
from knowledge.programmes import DLCap

OFFICE_LANGUAGES = ("kk", "ru")


class ApplyCallback(CallbackData, prefix="ap"):
    action: str
    value: str = ""


class StatementCallback(CallbackData, prefix="apcopy"):
    """A copy of a submitted statement in another language."""

    id: int
    lang: str


class DecisionCallback(CallbackData, prefix="apd"):
    id: int
    action: str
    v: int  # the number of history events the card was sent for


def step_keyboard(step: str, data: Mapping[str, Any]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if step == "ground":
        for ground in GROUNDS:
            kb.button(
                text=ground_label(ground),
                callback_data=ApplyCallback(action="ground", value=ground),
            )
    elif step == "role":
        for role in ROLES:
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


def edit_keyboard(data: Mapping[str, Any]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for step in steps_for(data):
        if step.startswith("consent_"):
            continue
        kb.button(text=field_label(step), callback_data=ApplyCallback(action="field", value=step))
    kb.button(text=_("⬅️ Back"), callback_data=ApplyCallback(action="back"))
    kb.adjust(2)
    return kb.as_markup()


def copies_keyboard(app: Application, langs: list[str]) -> InlineKeyboardMarkup:
    names = {"kk": _("📄 Kazakh"), "ru": _("📄 Russian"), "en": _("📄 English")}
    kb = InlineKeyboardBuilder()
    for lang in langs:
        kb.button(text=names[lang], callback_data=StatementCallback(id=app.id, lang=lang))
    kb.adjust(len(langs))
    return kb.as_markup()


def decision_keyboard(app: Application) -> InlineKeyboardMarkup:
    version = len(app.events)
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("✅ Approve"),
        callback_data=DecisionCallback(id=app.id, action="approve", v=version),
    )
    kb.button(
        text=_("❌ Reject"), callback_data=DecisionCallback(id=app.id, action="reject", v=version)
    )
    kb.button(
        text=_("❓ Ask for more"),
        callback_data=DecisionCallback(id=app.id, action="more", v=version),
    )
    kb.adjust(2, 1)
    return kb.as_markup()


def answer_keyboard(apps: list[Application]) -> InlineKeyboardMarkup | None:
    """«✉️ Answer …» under /myapplications for each application waiting for information."""
    if not apps:
        return None
    kb = InlineKeyboardBuilder()
    for app in apps:
        kb.button(
            text=_("✉️ Answer {reference}").format(reference=app.reference),
            callback_data=ApplyCallback(action="reply", value=str(app.id)),
        )
    kb.adjust(1)
    return kb.as_markup()


def reply_keyboard(app: Application) -> InlineKeyboardMarkup:
    """«✉️ Answer» under the office's request for more information."""
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✉️ Answer"), callback_data=ApplyCallback(action="reply", value=str(app.id)))
    return kb.as_markup()
