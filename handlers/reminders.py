"""/reminders (what a student gets, on/off, and what is coming) and /calendar for staff."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping
from datetime import date, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Role, User
from bot.db.models.reminders import Audience, CalendarEvent, EventKind
from bot.db.repositories import calendar as calendar_repo
from bot.db.repositories import groups as group_repo
from bot.edits import edit_or_send
from bot.filters import RoleFilter
from bot.i18n import current_locale
from bot.menu import MENU_REMINDERS
from bot.services.calendar import CalendarImportError, content_deadline, parse_calendar
from bot.services.reminders import ReminderService, fmt_date

PREFS = ("remind_deadlines", "remind_orientation", "remind_announcements")


class ReminderToggle(CallbackData, prefix="rem"):
    pref: str


class CalendarCallback(CallbackData, prefix="cal"):
    action: str  # page, del (asks), yes / keep (the answer), edit
    event_id: int = 0
    page: int = 0


class CalendarForm(StatesGroup):
    upload = State()  # set while the list is on screen: a file sent is imported
    confirm_delete = State()  # data: event_id of the 🗑 just pressed
    edit_dates = State()  # data: event_id of the ✏️ just pressed


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


def event_dates(event: CalendarEvent) -> str:
    dates = fmt_date(event.starts_on)
    if event.ends_on and event.ends_on != event.starts_on:
        dates += "–" + fmt_date(event.ends_on)
    return dates


def event_line(event: CalendarEvent, lang: str, *, teaching: bool) -> str:
    dates = event_dates(event)
    line = _("• {date}: {kind} «{title}»").format(
        date=dates, kind=kind_label(event.kind), title=html.escape(event.title(lang))
    )
    if teaching and event.kind == EventKind.PERIOD:
        line += "\n  " + _(
            "Digital content on the portal by {deadline}: 5 working days before the start, "
            "weekends and public holidays not counted (clause 6.9.2)."
        ).format(deadline=fmt_date(content_deadline(event.starts_on)))
    return line


def group_id_of(audience: str, value: str | None) -> int | None:
    """The group an event's audience names, if it is one group's."""
    if audience == Audience.GROUP.value and value and value.isdigit():
        return int(value)
    return None


def audience_label(audience: str, value: str | None, group_names: Mapping[int, str]) -> str:
    """Who an event is for, as words ("everyone", "year 2"), never the stored «[all]»;
    ``group_names`` holds the names of the groups events are for."""
    shown = html.escape(value or "?")
    group_id = group_id_of(audience, value)
    if group_id is not None:
        shown = html.escape(group_names.get(group_id) or str(value))
    return {
        Audience.ALL.value: _("for everyone"),
        Audience.ONLINE.value: _("for online-form students"),
        Audience.DISTANCE.value: _("for distance-learning students"),
        Audience.FACULTY.value: _("for the faculty {value}"),
        Audience.COURSE.value: _("for year {value}"),
        Audience.GROUP.value: _("for the group {value}"),
    }.get(audience, html.escape(audience)).format(value=shown)


async def reminders_view(
    session: AsyncSession, user: User, reminders: ReminderService
) -> tuple[str, InlineKeyboardMarkup]:
    profile = await group_repo.get_profile(session, user.id)
    lang = current_locale()
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
    profile = await group_repo.get_profile(session, db_user.id)
    now_on = not getattr(profile, callback_data.pref)
    setattr(profile, callback_data.pref, now_on)
    await session.flush()
    await callback.answer(_("On.") if now_on else _("Off."))
    if isinstance(callback.message, Message):
        text, markup = await reminders_view(session, db_user, reminders)
        await edit_or_send(callback.message, text, reply_markup=markup)


# Staff: the calendar --------------------------------------------------------------------------

PAGE_SIZE = 15
DATES_RE = re.compile(
    r"^\s*(\d{1,2}\.\d{1,2}\.\d{4})\s*(?:[-–—]\s*(\d{1,2}\.\d{1,2}\.\d{4}))?\s*$"
)


def parse_dates(text: str) -> tuple[date, date | None] | None:
    """Dates typed as DD.MM.YYYY or DD.MM.YYYY–DD.MM.YYYY (any dash): (starts_on, ends_on),
    ends_on None for one day; None when they are not dates."""
    match = DATES_RE.match(text)
    if match is None:
        return None
    try:
        days = [datetime.strptime(part, "%d.%m.%Y").date() for part in match.groups() if part]
    except ValueError:
        return None
    starts = days[0]
    ends = days[1] if len(days) > 1 and days[1] != starts else None
    return starts, ends


async def calendar_view(
    session: AsyncSession, reminders: ReminderService, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of the upcoming events with ✏️ / 🗑 per event and ◀️ ▶️ between pages."""
    today = reminders.now().astimezone(reminders.settings.tz).date()
    shown = await calendar_repo.upcoming_page(session, today, page, PAGE_SIZE)
    events, page, pages, total = shown.events, shown.page, shown.pages, shown.total
    group_names = await group_repo.names(
        session,
        {
            group_id
            for event in events
            if (group_id := group_id_of(event.audience, event.audience_value)) is not None
        },
    )
    lang = current_locale()
    if not events:
        header = _("The calendar is empty.")
    elif pages > 1:
        header = _("Academic calendar, page {page} of {pages} ({total} events):").format(
            page=page + 1, pages=pages, total=total
        )
    else:
        header = _("Academic calendar:")
    lines = [header]
    builder = InlineKeyboardBuilder()
    for event in events:
        lines.append(
            event_line(event, lang, teaching=True)
            + " · "
            + audience_label(event.audience, event.audience_value, group_names)
        )
        title = event.title(lang)[:30]
        builder.row(
            InlineKeyboardButton(
                text=_("✏️ {title}").format(title=title),
                callback_data=CalendarCallback(action="edit", event_id=event.id, page=page).pack(),
            ),
            InlineKeyboardButton(
                text=_("🗑 {title}").format(title=title),
                callback_data=CalendarCallback(action="del", event_id=event.id, page=page).pack(),
            ),
        )
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=_("◀️ Earlier"),
                callback_data=CalendarCallback(action="page", page=page - 1).pack(),
            )
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(
                text=_("Later ▶️"),
                callback_data=CalendarCallback(action="page", page=page + 1).pack(),
            )
        )
    if nav:
        builder.row(*nav)
    lines += [
        "",
        _(
            "To add events, send a CSV or YAML file now (columns: kind, title_kk, title_ru, "
            "title_en, starts_on, ends_on, audience). Kinds: period, orientation, "
            "application_deadline, exam_deadline; audience: all, online, distance, "
            "faculty:NAME, course:YEAR, group:ID. /cancel to stop."
        ),
    ]
    return "\n".join(lines), builder.as_markup()


async def back_to_list(state: FSMContext) -> None:
    """The list is on screen again: a file sent now is an upload (as after /calendar)."""
    await state.set_state(CalendarForm.upload)
    await state.set_data({})


async def show_calendar(
    message: Message,
    db_user: User,
    session: AsyncSession,
    state: FSMContext,
    reminders: ReminderService,
) -> None:
    text, markup = await calendar_view(session, reminders)
    await back_to_list(state)
    await message.answer(text, reply_markup=markup)


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
    await state.clear()  # committed with what this update writes
    events = await reminders.add_and_plan(session, specs, created_by=db_user.id)
    await message.answer(
        _(
            "Imported {n} events ({skipped} already in the calendar). Reminders are planned."
        ).format(n=len(events), skipped=len(specs) - len(events))
    )


async def show_page(
    callback: CallbackQuery, session: AsyncSession, reminders: ReminderService, page: int
) -> None:
    if isinstance(callback.message, Message):
        text, markup = await calendar_view(session, reminders, page)
        try:
            await edit_or_send(callback.message, text, reply_markup=markup)
        except TelegramBadRequest as exc:  # a second press of the same page button
            if "not modified" not in str(exc):
                raise


async def calendar_pressed(
    callback: CallbackQuery,
    callback_data: CalendarCallback,
    session: AsyncSession,
    state: FSMContext,
    reminders: ReminderService,
) -> None:
    action, page = callback_data.action, callback_data.page
    lang = current_locale()
    if action == "page":
        await callback.answer()
        await show_page(callback, session, reminders, page)
        return
    if action == "keep":
        # Harmless whether or not it answers the current question: nothing is deleted.
        if await state.get_state() == CalendarForm.confirm_delete.state:
            await back_to_list(state)
        await callback.answer(_("Nothing was deleted."))
        await show_page(callback, session, reminders, page)
        return
    if action not in ("del", "yes", "edit"):
        await callback.answer(_("This button is no longer active."))
        return
    event = await session.get(CalendarEvent, callback_data.event_id)
    if event is None:
        await callback.answer(_("This event is no longer in the calendar."))
        await show_page(callback, session, reminders, page)
        return
    title = event.title(lang)
    if action == "del":
        planned = await reminders.pending_count(session, event.id)
        await state.set_state(CalendarForm.confirm_delete)
        await state.set_data({"event_id": event.id})
        await callback.answer()
        if isinstance(callback.message, Message):
            builder = InlineKeyboardBuilder()
            builder.button(
                text=_("🗑 Yes, delete"),
                callback_data=CalendarCallback(action="yes", event_id=event.id, page=page),
            )
            builder.button(
                text=_("Keep"),
                callback_data=CalendarCallback(action="keep", event_id=event.id, page=page),
            )
            builder.adjust(2)
            await edit_or_send(
                callback.message,
                _("Delete «{title}» ({dates}) and its planned reminders ({n})?").format(
                    title=html.escape(title), dates=event_dates(event), n=planned
                ),
                reply_markup=builder.as_markup(),
            )
        return
    if action == "edit":
        await state.set_state(CalendarForm.edit_dates)
        await state.set_data({"event_id": event.id})
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.answer(
                _(
                    "New dates for «{title}» (now {dates}): send DD.MM.YYYY for one day or "
                    "DD.MM.YYYY–DD.MM.YYYY for several. Its reminders not sent yet are planned "
                    "again. /cancel keeps the dates."
                ).format(title=html.escape(title), dates=event_dates(event))
            )
        return
    # "yes": only as the answer to the question just asked about this very event.
    data = await state.get_data()
    if (
        await state.get_state() != CalendarForm.confirm_delete.state
        or data.get("event_id") != event.id
    ):
        await callback.answer(_("This button is no longer active."))
        return
    await back_to_list(state)  # committed with what this update writes
    await reminders.remove(session, event)
    await callback.answer(_("Deleted: {title}").format(title=title[:100]), show_alert=True)
    await show_page(callback, session, reminders, page)


async def calendar_new_dates(
    message: Message,
    session: AsyncSession,
    state: FSMContext,
    reminders: ReminderService,
) -> None:
    parsed = parse_dates(message.text or "")
    if parsed is None:
        await message.answer(
            _(
                "Write the dates as DD.MM.YYYY or DD.MM.YYYY–DD.MM.YYYY, for example "
                "07.09.2026–11.09.2026. /cancel keeps the dates."
            )
        )
        return
    starts, ends = parsed
    if ends is not None and ends < starts:
        await message.answer(
            _("The last day ({end}) is before the first ({start}). Send the dates again.").format(
                end=fmt_date(ends), start=fmt_date(starts)
            )
        )
        return
    event_id = (await state.get_data()).get("event_id")
    await state.clear()  # committed with what this update writes
    event = await session.get(CalendarEvent, event_id) if isinstance(event_id, int) else None
    if event is None:
        await message.answer(_("This event is no longer in the calendar."))
        return
    planned = await reminders.reschedule(session, event, starts, ends)
    await message.answer(
        _("«{title}» is now on {dates}. Reminders planned: {n}.").format(
            title=html.escape(event.title(current_locale())),
            dates=event_dates(event),
            n=planned,
        )
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
    router.message.register(
        calendar_new_dates,
        StateFilter(CalendarForm.edit_dates),
        F.text,
        ~F.text.startswith("/"),
        staff,
    )
    return router
