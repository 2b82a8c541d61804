"""/reminders (what a student gets, on/off, and what is coming) and /calendar for staff."""

from __future__ import annotations

import html
import io

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Role, User
from bot.db.models.reminders import CalendarEvent, EventKind, ReminderJob
from bot.filters import RoleFilter
from bot.menu import MENU_REMINDERS
from bot.services.calendar import CalendarImportError, content_deadline, parse_calendar
from bot.services.reminders import ReminderService, fmt_date
from handlers.groups import get_profile

PREFS = ("remind_deadlines", "remind_orientation", "remind_announcements")


class ReminderToggle(CallbackData, prefix="rem"):
    pref: str


class CalendarCallback(CallbackData, prefix="cal"):
    action: str  # delete
    event_id: int


class CalendarForm(StatesGroup):
    upload = State()


def pref_label(pref: str) -> str:
    return {
        "remind_deadlines": _("Deadlines"),
        "remind_orientation": _("Orientation week"),
        "remind_announcements": _("Announcements from curators and staff"),
    }[pref]


def kind_label(kind: str) -> str:
    labels: dict[str, str] = {
        EventKind.PERIOD: _("Academic period"),
        EventKind.ORIENTATION: _("Orientation week"),
        EventKind.APPLICATION_DEADLINE: _("Application deadline"),
        EventKind.EXAM_DEADLINE: _("Exam deadline"),
    }
    return labels.get(kind, kind)


def event_line(event: CalendarEvent, lang: str, *, teaching: bool) -> str:
    dates = fmt_date(event.starts_on)
    if event.ends_on and event.ends_on != event.starts_on:
        dates += "–" + fmt_date(event.ends_on)
    line = _("• {date}: {kind} «{title}»").format(
        date=dates, kind=kind_label(event.kind), title=html.escape(event.title(lang))
    )
    if teaching and event.kind == EventKind.PERIOD:
        line += "\n  " + _(
            "Digital content on the portal by {deadline}: 5 working days before the start, "
            "weekends and public holidays not counted (clause 6.9.2)."
        ).format(deadline=fmt_date(content_deadline(event.starts_on)))
    return line


async def reminders_view(
    session: AsyncSession, user: User, reminders: ReminderService
) -> tuple[str, InlineKeyboardMarkup]:
    profile = await get_profile(session, user.id)
    lang = get_i18n().current_locale
    builder = InlineKeyboardBuilder()
    for pref in PREFS:
        on = bool(getattr(profile, pref))
        builder.button(
            text=("✅ " if on else "🚫 ") + pref_label(pref),
            callback_data=ReminderToggle(pref=pref),
        )
    builder.adjust(1)
    teaching = user.role in (Role.CURATOR.value, Role.STAFF.value, Role.ADMIN.value)
    events = await reminders.upcoming_for(session, user)
    lines = [
        _("Reminders come in the daytime only (never at night). Tap to turn a kind on or off."),
        "",
        _("Coming up:") if events else _("Nothing is scheduled for you yet."),
    ]
    lines += [event_line(e, lang, teaching=teaching) for e in events]
    if not events or not profile.study_form:
        lines += [
            "",
            _("Set your study form and course in /profile so the right deadlines reach you."),
        ]
    return "\n".join(lines), builder.as_markup()


async def show_reminders(
    message: Message, db_user: User, session: AsyncSession, reminders: ReminderService
) -> None:
    text, markup = await reminders_view(session, db_user, reminders)
    await message.answer(text, reply_markup=markup)


async def toggle(
    callback: CallbackQuery,
    callback_data: ReminderToggle,
    db_user: User,
    session: AsyncSession,
    reminders: ReminderService,
) -> None:
    if callback_data.pref not in PREFS:
        await callback.answer()
        return
    profile = await get_profile(session, db_user.id)
    now_on = not getattr(profile, callback_data.pref)
    setattr(profile, callback_data.pref, now_on)
    await session.flush()
    await callback.answer(_("On.") if now_on else _("Off."))
    if isinstance(callback.message, Message):
        text, markup = await reminders_view(session, db_user, reminders)
        await callback.message.edit_text(text, reply_markup=markup)


# Staff: the calendar --------------------------------------------------------------------------


async def show_calendar(
    message: Message,
    db_user: User,
    session: AsyncSession,
    state: FSMContext,
    reminders: ReminderService,
) -> None:
    today = reminders.now().astimezone(reminders.settings.tz).date()
    events = list(
        await session.scalars(
            select(CalendarEvent)
            .where((CalendarEvent.starts_on >= today) | (CalendarEvent.ends_on >= today))
            .order_by(CalendarEvent.starts_on, CalendarEvent.id)
            .limit(15)
        )
    )
    lang = get_i18n().current_locale
    lines = [_("Academic calendar:") if events else _("The calendar is empty.")]
    builder = InlineKeyboardBuilder()
    for event in events:
        audience = event.audience + (f":{event.audience_value}" if event.audience_value else "")
        lines.append(event_line(event, lang, teaching=True) + f" [{html.escape(audience)}]")
        builder.button(
            text=_("🗑 {title}").format(title=event.title(lang)[:40]),
            callback_data=CalendarCallback(action="delete", event_id=event.id),
        )
    builder.adjust(1)
    lines += [
        "",
        _(
            "To add events, send a CSV or YAML file now (columns: kind, title_kk, title_ru, "
            "title_en, starts_on, ends_on, audience). Kinds: period, orientation, "
            "application_deadline, exam_deadline; audience: all, online, distance, "
            "faculty:NAME, course:YEAR, group:ID. /cancel to stop."
        ),
    ]
    await state.set_state(CalendarForm.upload)
    await message.answer("\n".join(lines), reply_markup=builder.as_markup())


async def calendar_upload(
    message: Message,
    db_user: User,
    session: AsyncSession,
    bot: Bot,
    state: FSMContext,
    reminders: ReminderService,
) -> None:
    document = message.document
    assert document is not None
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    try:
        specs = parse_calendar(buffer.getvalue().decode("utf-8"), document.file_name or "x.csv")
    except (CalendarImportError, UnicodeDecodeError) as exc:
        await message.answer(
            _("The file was not imported: {error}").format(error=html.escape(str(exc)))
        )
        return
    await state.clear()  # before this session writes (the FSM storage has its own session)
    events = await reminders.add_and_plan(session, specs, created_by=db_user.id)
    await message.answer(
        _(
            "Imported {n} events ({skipped} already in the calendar). Reminders are planned."
        ).format(n=len(events), skipped=len(specs) - len(events))
    )


async def calendar_pressed(
    callback: CallbackQuery, callback_data: CalendarCallback, session: AsyncSession
) -> None:
    event = await session.get(CalendarEvent, callback_data.event_id)
    if event is None:
        await callback.answer(_("Already deleted."))
        return
    await session.execute(
        delete(ReminderJob).where(
            ReminderJob.event_id == event.id, ReminderJob.status == "pending"
        )
    )
    await session.delete(event)
    await session.flush()
    await callback.answer(
        _("Deleted: {title}").format(title=event.title_en[:100]), show_alert=True
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    staff = RoleFilter(Role.STAFF)
    router.message.register(show_reminders, Command("reminders"))
    router.message.register(show_reminders, F.text == MENU_REMINDERS)
    router.callback_query.register(toggle, ReminderToggle.filter())
    router.message.register(show_calendar, Command("calendar"), staff)
    router.message.register(calendar_upload, StateFilter(CalendarForm.upload), F.document, staff)
    router.callback_query.register(calendar_pressed, CalendarCallback.filter(), staff)
    return router
