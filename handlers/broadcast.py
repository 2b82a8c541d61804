"""/broadcast for curators and staff: content, audience, preview, send now or schedule, confirm.

A curator picks among their own groups only; staff combine segments (faculty, programme, course
year, study form, language). Every press is checked against the user's rights again, and the
audience is checked once more when the broadcast is created (``check_audience``).

"Send now" within quiet hours (``settings.quiet_hours_start``–``end``, by ``broadcasts.now()``)
sends nothing yet: it offers to schedule for the end of quiet hours or to send anyway.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LANGUAGES, Settings
from bot.db.models import Role, User
from bot.db.models.broadcasts import Broadcast
from bot.db.repositories import groups as group_repo
from bot.edits import edit_or_send
from bot.filters import RoleFilter, has_role
from bot.i18n import LANGUAGE_NAMES
from bot.services.broadcast import (
    AudienceNotAllowed,
    BroadcastService,
    count_audience,
    counts,
    create_broadcast,
    curator_group_ids,
)
from bot.services.calendar import in_quiet_hours, out_of_quiet_hours
from bot.views.audience import STUDY_FORMS, AudienceCallback, form_name
from bot.views.broadcast import BroadcastCallback, cancel_keyboard, progress_text
from knowledge.programmes import ProgrammeCatalog


class BroadcastForm(StatesGroup):
    content = State()
    audience = State()
    segment_text = State()
    confirm = State()
    schedule = State()


class SendCallback(CallbackData, prefix="bcs"):
    # now | schedule | abort; within quiet hours "now" asks first: morning (schedule for the
    # end of quiet hours) | confirm (send now anyway)
    action: str


def is_staff(user: User) -> bool:
    return has_role(user, Role.STAFF)


async def describe(session: AsyncSession, audience: dict[str, Any]) -> str:
    parts: list[str] = []
    if audience.get("groups"):
        names = (await group_repo.names(session, audience["groups"])).values()
        parts.append(_("groups: {names}").format(names=html.escape(", ".join(names))))
    if audience.get("faculty"):
        parts.append(_("faculty: {v}").format(v=html.escape(audience["faculty"])))
    if audience.get("programme"):
        parts.append(_("programme: {v}").format(v=html.escape(audience["programme"])))
    if audience.get("course_year"):
        parts.append(_("course year: {v}").format(v=audience["course_year"]))
    if audience.get("study_form"):
        parts.append(_("study form: {v}").format(v=form_name(audience["study_form"])))
    if audience.get("language"):
        parts.append(_("language: {v}").format(v=LANGUAGE_NAMES.get(audience["language"], "?")))
    return " · ".join(parts) if parts else _("all students")


async def start(message: Message, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(BroadcastForm.content)
    await message.answer(
        _(
            "Send the message for the students: text (formatting is kept), or a photo or a "
            "document with a caption. /cancel to stop."
        )
    )


async def got_content(
    message: Message, state: FSMContext, db_user: User, session: AsyncSession
) -> None:
    media_kind: str | None = None
    file_id: str | None = None
    if message.photo:
        media_kind, file_id = "photo", message.photo[-1].file_id
    elif message.document:
        media_kind, file_id = "document", message.document.file_id
    elif not message.text:
        await message.answer(_("Please send text, a photo or a document."))
        return
    text = message.html_text if (message.text or message.caption) else ""
    # A curator can only reach their own groups: start from all of them, not "all students".
    audience: dict[str, Any] = {}
    if not is_staff(db_user):
        audience = {"groups": await curator_group_ids(session, db_user.id)}
    await state.update_data(
        text=text, media_kind=media_kind, media_file_id=file_id, audience=audience
    )
    await state.set_state(BroadcastForm.audience)
    await show_audience(message, state, db_user, session)


async def audience_keyboard(session: AsyncSession, db_user: User, audience: dict[str, Any]) -> Any:
    builder = InlineKeyboardBuilder()
    if is_staff(db_user):
        builder.button(text=_("Everyone"), callback_data=AudienceCallback(key="everyone"))
        builder.button(text=_("Faculty…"), callback_data=AudienceCallback(key="faculty"))
        builder.button(text=_("Programme…"), callback_data=AudienceCallback(key="programme"))
        for year in range(1, 6):  # the course years /profile and /apply offer
            mark = "✅ " if audience.get("course_year") == year else ""
            builder.button(
                text=mark + _("Year {n}").format(n=year),
                callback_data=AudienceCallback(key="course_year", value=str(year)),
            )
        for code in STUDY_FORMS:
            mark = "✅ " if audience.get("study_form") == code else ""
            builder.button(
                text=mark + form_name(code),
                callback_data=AudienceCallback(key="study_form", value=code),
            )
        for lang in LANGUAGES:
            mark = "✅ " if audience.get("language") == lang else ""
            builder.button(
                text=mark + LANGUAGE_NAMES[lang],
                callback_data=AudienceCallback(key="language", value=lang),
            )
        builder.button(text=_("➡️ Preview"), callback_data=AudienceCallback(key="done"))
        builder.adjust(3, 5, 3, 3, 1)
        return builder.as_markup()
    groups = await group_repo.of_curator(session, db_user.id)
    chosen = set(audience.get("groups") or [])
    for group in groups:
        mark = "✅ " if group.id in chosen else ""
        builder.button(
            text=mark + group.name,
            callback_data=AudienceCallback(key="group", value=str(group.id)),
        )
    builder.button(text=_("All my groups"), callback_data=AudienceCallback(key="all_groups"))
    builder.button(text=_("➡️ Preview"), callback_data=AudienceCallback(key="done"))
    builder.adjust(2)
    return builder.as_markup()


async def show_audience(
    message: Message,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
    *,
    edit: bool = False,
) -> None:
    data = await state.get_data()
    audience = data.get("audience") or {}
    if not is_staff(db_user) and not await curator_group_ids(session, db_user.id):
        await state.clear()
        await message.answer(_("You have no groups yet. Create one with /newgroup NAME."))
        return
    if not is_staff(db_user) and not audience.get("groups"):
        # An empty choice is no group, not "all students" (which a curator cannot reach).
        text = _("Who gets it? Choose at least one of your groups.")
    else:
        text = _("Who gets it? Now: {audience} — {n} recipients.").format(
            audience=await describe(session, audience),
            n=await count_audience(session, audience),
        )
    markup = await audience_keyboard(session, db_user, audience)
    if edit:
        await edit_or_send(message, text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


async def audience_pressed(
    callback: CallbackQuery,
    callback_data: AudienceCallback,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
) -> None:
    data = await state.get_data()
    audience: dict[str, Any] = dict(data.get("audience") or {})
    key, value = callback_data.key, callback_data.value
    staff = is_staff(db_user)
    if key in ("group", "all_groups"):
        own = await curator_group_ids(session, db_user.id)
        if key == "all_groups":
            audience["groups"] = own
        else:
            group_id = int(value)
            if group_id not in own and not staff:
                await callback.answer(_("This is not your group."), show_alert=True)
                return
            groups = set(audience.get("groups") or [])
            groups ^= {group_id}
            audience["groups"] = sorted(groups)
    elif not staff and key != "done":
        await callback.answer(_("Curators can write only to their own groups."), show_alert=True)
        return
    elif key == "everyone":
        audience = {}
    elif key in ("faculty", "programme"):
        await state.update_data(segment=key)
        await state.set_state(BroadcastForm.segment_text)
        await callback.answer()
        prompt = _("Type the faculty name:") if key == "faculty" else _("Type the programme name:")
        await callback.message.answer(prompt)  # type: ignore[union-attr]
        return
    elif key == "course_year":
        year = int(value)
        audience["course_year"] = None if audience.get("course_year") == year else year
    elif key in ("study_form", "language"):
        audience[key] = None if audience.get(key) == value else value
    audience = {k: v for k, v in audience.items() if v}
    await state.update_data(audience=audience)
    if key == "done":
        await callback.answer()
        await preview(callback.message, state, db_user, session)  # type: ignore[arg-type]
        return
    await callback.answer()
    await show_audience(callback.message, state, db_user, session, edit=True)  # type: ignore[arg-type]


async def segment_text(
    message: Message,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
    programmes: ProgrammeCatalog,
) -> None:
    data = await state.get_data()
    audience = dict(data.get("audience") or {})
    segment = data.get("segment", "faculty")
    value = (message.text or "").strip()[:128]
    if segment == "programme":
        # Students' /profile stores the direction code (6B061): match it, not a spelling.
        value = resolve_programme(programmes, value) or value
    audience[segment] = value
    await state.update_data(audience={k: v for k, v in audience.items() if v})
    await state.set_state(BroadcastForm.audience)
    await show_audience(message, state, db_user, session)


async def send_preview(bot: Bot, chat_id: int, data: dict[str, Any]) -> None:
    """Exactly what the delivery worker sends to each student."""
    text = data.get("text") or ""
    if data.get("media_kind") == "photo":
        await bot.send_photo(chat_id, data["media_file_id"], caption=text or None)
    elif data.get("media_kind") == "document":
        await bot.send_document(chat_id, data["media_file_id"], caption=text or None)
    else:
        await bot.send_message(chat_id, text)


async def preview(
    message: Message, state: FSMContext, db_user: User, session: AsyncSession
) -> None:
    data = await state.get_data()
    audience = data.get("audience") or {}
    try:
        from bot.services.broadcast import check_audience

        await check_audience(session, db_user, audience)
    except AudienceNotAllowed:
        await message.answer(_("Pick at least one of your groups."))
        return
    n = await count_audience(session, audience)
    if n == 0:
        await nobody(message, state, session, audience)
        return
    await state.set_state(BroadcastForm.confirm)
    await message.answer(_("Preview — this is exactly what the students will see:"))
    assert message.bot is not None
    await send_preview(message.bot, message.chat.id, data)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🚀 Send now"), callback_data=SendCallback(action="now"))
    builder.button(text=_("🕒 Schedule"), callback_data=SendCallback(action="schedule"))
    builder.button(text=_("✖️ Cancel"), callback_data=SendCallback(action="abort"))
    builder.adjust(2, 1)
    await message.answer(
        _("Audience: {audience} — {n} recipients. Send it?").format(
            audience=await describe(session, audience), n=n
        ),
        reply_markup=builder.as_markup(),
    )


async def nobody(
    message: Message, state: FSMContext, session: AsyncSession, audience: dict[str, Any]
) -> None:
    """No one would get it: say why, and offer a change of audience instead of "Send"."""
    await state.set_state(BroadcastForm.confirm)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("⬅️ Change the audience"), callback_data=SendCallback(action="audience"))
    builder.button(text=_("✖️ Cancel"), callback_data=SendCallback(action="abort"))
    builder.adjust(1)
    await message.answer(
        _(
            "Nobody would receive this: {audience} has no students with announcements "
            "switched on. Choose another audience, or invite students first (/groups shows "
            "your groups' links)."
        ).format(audience=await describe(session, audience)),
        reply_markup=builder.as_markup(),
    )


def resolve_programme(programmes: ProgrammeCatalog, text: str) -> str | None:
    """The direction code (6B061) a programme's name or code stands for, if only one."""
    result = programmes.lookup(text)
    directions = {c.direction.code for c in result.candidates}
    return directions.pop() if len(directions) == 1 else None


WHEN_FORMAT = "%d.%m.%Y %H:%M"


def parse_when(text: str, settings: Settings) -> datetime | None:
    for fmt in (WHEN_FORMAT, "%Y-%m-%d %H:%M"):
        try:
            local = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=settings.tz)
    return None


async def send_pressed(
    callback: CallbackQuery,
    callback_data: SendCallback,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
    settings: Settings,
    broadcasts: BroadcastService,
) -> None:
    await callback.answer()
    message = callback.message
    assert isinstance(message, Message)
    if callback_data.action == "abort":
        await state.clear()
        await edit_or_send(message, _("Broadcast cancelled, nothing was sent."))
        return
    if callback_data.action == "audience":
        await state.set_state(BroadcastForm.audience)
        await show_audience(message, state, db_user, session)
        return
    if callback_data.action == "schedule":
        await state.set_state(BroadcastForm.schedule)
        example = (broadcasts.now().astimezone(settings.tz) + timedelta(days=1)).replace(
            hour=10, minute=0
        )
        await message.answer(
            _(
                "When? Send the date and time in {zone} time as DD.MM.YYYY HH:MM, for "
                "example {example}"
            ).format(zone=settings.timezone, example=example.strftime(WHEN_FORMAT))
        )
        return
    now = broadcasts.now()
    quiet = (settings.tz, settings.quiet_hours_start, settings.quiet_hours_end)
    if callback_data.action == "now" and in_quiet_hours(now, *quiet):
        await ask_quiet_hours(message, settings, out_of_quiet_hours(now, *quiet))
        return
    scheduled_at: datetime | None = None
    if callback_data.action == "morning" and in_quiet_hours(now, *quiet):
        # Worked out again at the press, like "now": once the quiet hours are over it sends.
        scheduled_at = out_of_quiet_hours(now, *quiet)
    await confirm(
        message, state, db_user, session, settings, broadcasts, scheduled_at=scheduled_at
    )


async def ask_quiet_hours(message: Message, settings: Settings, morning: datetime) -> None:
    """The "Send now" press within quiet hours: offer their end, or sending anyway."""
    at = morning.astimezone(settings.tz).strftime("%H:%M")
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🌅 Send at {time}").format(time=at), callback_data=SendCallback(action="morning")
    )
    builder.button(text=_("🚀 Send anyway"), callback_data=SendCallback(action="confirm"))
    builder.button(text=_("✖️ Cancel"), callback_data=SendCallback(action="abort"))
    builder.adjust(2, 1)
    await message.answer(
        _(
            "It is quiet hours now ({start}–{end}): the students are probably asleep. "
            "Send it at {time}, when they end, or now anyway?"
        ).format(
            start=settings.quiet_hours_start.strftime("%H:%M"),
            end=settings.quiet_hours_end.strftime("%H:%M"),
            time=at,
        ),
        reply_markup=builder.as_markup(),
    )


async def got_schedule(
    message: Message,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
    settings: Settings,
    broadcasts: BroadcastService,
) -> None:
    when = parse_when(message.text or "", settings)
    if when is None or when <= broadcasts.now():
        example = (broadcasts.now().astimezone(settings.tz) + timedelta(days=1)).replace(
            hour=10, minute=0
        )
        await message.answer(
            _(
                "I could not read a future date and time. Write it as DD.MM.YYYY HH:MM, for "
                "example {example}"
            ).format(example=example.strftime(WHEN_FORMAT))
        )
        return
    shifted = out_of_quiet_hours(
        when, settings.tz, settings.quiet_hours_start, settings.quiet_hours_end
    )
    if shifted != when:
        await message.answer(
            _("That is within quiet hours ({start}–{end}); I will send it at {when}.").format(
                start=settings.quiet_hours_start.strftime("%H:%M"),
                end=settings.quiet_hours_end.strftime("%H:%M"),
                when=shifted.astimezone(settings.tz).strftime(WHEN_FORMAT),
            )
        )
    await confirm(message, state, db_user, session, settings, broadcasts, scheduled_at=shifted)


async def confirm(
    message: Message,
    state: FSMContext,
    db_user: User,
    session: AsyncSession,
    settings: Settings,
    broadcasts: BroadcastService,
    *,
    scheduled_at: datetime | None,
) -> None:
    data = await state.get_data()
    if not await count_audience(session, data.get("audience") or {}):
        # The audience emptied since the preview (students left, switched announcements off).
        await nobody(message, state, session, data.get("audience") or {})
        return
    # The wizard ends in the same commit as the broadcast is stored.
    await state.clear()
    try:
        b = await create_broadcast(
            session,
            sender=db_user,
            text=data.get("text") or "",
            audience=data.get("audience") or {},
            media_kind=data.get("media_kind"),
            media_file_id=data.get("media_file_id"),
            scheduled_at=scheduled_at,
            default_language=settings.default_language,
        )
    except AudienceNotAllowed:
        await message.answer(_("You can write only to the students of your own groups."))
        return
    if scheduled_at is None:
        text = _("Broadcast #{id}: sending to {n} recipients…").format(id=b.id, n=b.total)
    else:
        text = _("Broadcast #{id} is scheduled for {when}.").format(
            id=b.id, when=scheduled_at.astimezone(settings.tz).strftime(WHEN_FORMAT)
        )
    progress = await message.answer(text, reply_markup=cancel_keyboard(b.id))
    b.progress_chat_id = progress.chat.id
    b.progress_message_id = progress.message_id
    await session.commit()
    broadcasts.wake()


async def cancel_pressed(
    callback: CallbackQuery,
    callback_data: BroadcastCallback,
    db_user: User,
    session: AsyncSession,
    broadcasts: BroadcastService,
) -> None:
    b = await session.get(Broadcast, callback_data.broadcast_id)
    if b is None or (b.sender_id != db_user.id and not is_staff(db_user)):
        await callback.answer(_("This is not your broadcast."), show_alert=True)
        return
    if not await broadcasts.cancel(session, b.id):
        await callback.answer(_("This broadcast has already finished."), show_alert=True)
        return
    await session.commit()
    await session.refresh(b)
    await callback.answer(_("Cancelled."))
    if isinstance(callback.message, Message):
        await edit_or_send(
            callback.message,
            progress_text(b, await counts(session, b.id), now=broadcasts.now(), final=True),
        )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    sender = RoleFilter(Role.CURATOR, Role.STAFF)
    router.message.register(start, Command("broadcast"), sender)
    router.message.register(got_content, BroadcastForm.content, sender)
    router.message.register(segment_text, BroadcastForm.segment_text, F.text, sender)
    router.message.register(got_schedule, BroadcastForm.schedule, F.text, sender)
    router.callback_query.register(
        audience_pressed, AudienceCallback.filter(), StateFilter(BroadcastForm.audience), sender
    )
    router.callback_query.register(
        send_pressed, SendCallback.filter(), StateFilter(BroadcastForm.confirm), sender
    )
    router.callback_query.register(cancel_pressed, BroadcastCallback.filter(F.action == "cancel"))
    return router
