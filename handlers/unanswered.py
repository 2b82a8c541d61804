"""/unanswered (staff): the questions the bot could not answer, grouped, and answering them.

Staff open ``/unanswered`` in the staff chat (or in a private chat with the bot): groups of
questions, biggest first, five a page. A group's card offers ✍️ Answer (the answer in one
language, optionally the other two, then the office, a preview and ✅ Publish), 📖 Answered by
a clause, and 🚫 Not for us. Every press and every typed answer is checked against the stored
role; anyone else gets nothing from the queue.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, tzinfo

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LANGUAGES, Settings
from bot.db.models import Role, User
from bot.filters import RoleFilter, has_role
from bot.i18n import LANGUAGE_NAMES, current_locale
from bot.services.answers import AnswerService, parse_clause_id
from bot.services.faq import FaqService, office_choices
from bot.services.unanswered import (
    GROUPS_PER_PAGE,
    NOTIFY_DAYS,
    GroupClosed,
    GroupSummary,
    UnansweredService,
)
from knowledge.faq import FaqDataError, FaqEntry

log = logging.getLogger(__name__)
MAX_ANSWER = 3000
NO_OFFICE = "-"


class UnansweredCallback(CallbackData, prefix="unq"):
    """``page`` the list, ``open`` a group, ``answer`` / ``clause`` / ``dismiss`` it, ``lang``
    of the next text, ``office`` picked, ``publish``, ``confirm`` a clause, ``stop``."""

    action: str
    group: int = 0
    page: int = 0
    value: str = ""


class AnswerGroup(StatesGroup):
    text = State()  # typing the answer in data["lang"]
    clause = State()  # typing the clause number


async def staff_place(event: TelegramObject, settings: Settings) -> bool:
    """The staff chat, or a private chat (the queue is there too for a staff member)."""
    chat = getattr(event, "chat", None)
    if chat is None:
        message = getattr(event, "message", None)
        chat = getattr(message, "chat", None)
    if chat is None:
        return False
    return chat.type == "private" or (
        settings.staff_chat_id is not None and chat.id == settings.staff_chat_id
    )


def reason_label(reason: str) -> str:
    return {
        "unsure": _("not sure"),
        "out_of_scope": _("not covered"),
        "office": _("sent to an office"),
        "disliked": "👎",
    }.get(reason, reason)


def _date(value: datetime, tz: tzinfo) -> str:
    """Local time (``TIMEZONE``), as staff read the clock."""
    return value.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def group_lines(summary: GroupSummary, tz: tzinfo, number: int | None = None) -> list[str]:
    head = f"{number}. " if number is not None else ""
    lines = [
        head
        + _("«{title}» — {count} questions · {languages} · {first} – {last}").format(
            title=html.escape(summary.title[:120]),
            count=summary.count,
            languages=", ".join(summary.languages),
            first=_date(summary.first_at, tz),
            last=_date(summary.last_at, tz),
        )
    ]
    for lang, text in summary.examples:
        lines.append(f"   • «{html.escape(text[:200])}» ({lang})")
    return lines


async def show_list(
    target: Message, session: AsyncSession, unanswered: UnansweredService, page: int
) -> None:
    await unanswered.assign_groups(session)
    await session.commit()
    groups, total_groups, total_items = await unanswered.open_groups(session, page=page)
    if not total_groups:
        await target.answer(_("📥 No unanswered questions. Well done!"))
        return
    pages = max(1, -(-total_groups // GROUPS_PER_PAGE))
    page = min(page, pages - 1)
    lines = [
        _("📥 Unanswered questions: {groups} groups, {items} questions. Biggest first.").format(
            groups=total_groups, items=total_items
        ),
        _("Page {page} of {pages}. Press a number to answer that group.").format(
            page=page + 1, pages=pages
        ),
        "",
    ]
    builder = InlineKeyboardBuilder()
    for i, summary in enumerate(groups, start=page * GROUPS_PER_PAGE + 1):
        lines += group_lines(summary, unanswered.settings.tz, i)
        lines.append("")
        builder.button(
            text=str(i),
            callback_data=UnansweredCallback(action="open", group=summary.id, page=page),
        )
    nav = 0
    if page > 0:
        builder.button(text="◀️", callback_data=UnansweredCallback(action="page", page=page - 1))
        nav += 1
    if page + 1 < pages:
        builder.button(text="▶️", callback_data=UnansweredCallback(action="page", page=page + 1))
        nav += 1
    builder.adjust(*([len(groups)] + ([nav] if nav else [])))
    await target.answer("\n".join(lines).strip()[:4000], reply_markup=builder.as_markup())


async def unanswered_command(
    message: Message, session: AsyncSession, unanswered: UnansweredService, state: FSMContext
) -> None:
    await state.clear()
    await show_list(message, session, unanswered, 0)


async def not_staff(message: Message) -> None:
    await message.reply(_("Only Helpdesk staff can use these commands."))


def card_keyboard(group_id: int, page: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✍️ Answer"), callback_data=UnansweredCallback(action="answer", group=group_id)
    )
    builder.button(
        text=_("📖 Answered by a clause"),
        callback_data=UnansweredCallback(action="clause", group=group_id),
    )
    builder.button(
        text=_("🚫 Not for us"), callback_data=UnansweredCallback(action="dismiss", group=group_id)
    )
    builder.button(
        text=_("◀️ Back to the list"), callback_data=UnansweredCallback(action="page", page=page)
    )
    builder.adjust(1)
    return builder.as_markup()


def card_text(summary: GroupSummary, tz: tzinfo) -> str:
    reasons = " · ".join(
        f"{reason_label(r)} {n}" for r, n in sorted(summary.reasons.items(), key=lambda x: -x[1])
    )
    lines = [
        _("<b>Group #{id}</b> · {count} questions · languages: {languages}").format(
            id=summary.id, count=summary.count, languages=", ".join(summary.languages)
        ),
        _("First asked {first} · last {last}").format(
            first=_date(summary.first_at, tz), last=_date(summary.last_at, tz)
        ),
        _("Why it is here: {reasons}").format(reasons=reasons),
        _("Examples:"),
    ]
    lines += [f"• «{html.escape(text[:300])}» ({lang})" for lang, text in summary.examples]
    return "\n".join(lines)


async def _refuse(callback: CallbackQuery) -> None:
    log.warning("refused /unanswered button %r from user %s", callback.data, callback.from_user.id)
    await callback.answer(_("Only Helpdesk staff can use these commands."), show_alert=True)


async def on_button(
    callback: CallbackQuery,
    callback_data: UnansweredCallback,
    session: AsyncSession,
    db_user: User,
    state: FSMContext,
    unanswered: UnansweredService,
    faq: FaqService,
    answers: AnswerService,
    i18n: I18n,
) -> None:
    if not has_role(db_user, Role.STAFF):
        await _refuse(callback)
        return
    message = callback.message if isinstance(callback.message, Message) else None
    if message is None:
        await callback.answer()
        return
    action = callback_data.action
    if action == "page":
        await callback.answer()
        await state.clear()
        await show_list(message, session, unanswered, max(0, callback_data.page))
        return
    if action == "stop":
        await state.clear()
        await callback.answer()
        await message.answer(_("Stopped. Nothing was published."))
        return
    group_id = callback_data.group or int((await state.get_data()).get("group") or 0)
    summary = await unanswered.summary(session, group_id) if group_id else None
    if summary is None or summary.status != "open":
        await state.clear()
        await callback.answer(_("This group was already handled."), show_alert=True)
        return
    await callback.answer()
    if action == "open":
        await message.answer(
            card_text(summary, unanswered.settings.tz),
            reply_markup=card_keyboard(summary.id, callback_data.page),
        )
    elif action == "answer":
        await state.set_state(None)
        await state.set_data({"group": summary.id, "answers": {}})
        await message.answer(
            _("In which language will you write the answer? You can add the other two next."),
            reply_markup=language_keyboard(summary.id, {}),
        )
    elif action == "lang" and callback_data.value in LANGUAGES:
        await state.update_data(group=summary.id, lang=callback_data.value)
        await state.set_state(AnswerGroup.text)
        await message.answer(
            _(
                "Write the answer in {language}, as students should read it (up to {limit} "
                "characters). /cancel stops."
            ).format(language=LANGUAGE_NAMES[callback_data.value], limit=MAX_ANSWER),
            reply_markup=ForceReply(selective=True),
        )
    elif action == "offices":
        await message.answer(
            _("Which office is responsible for this answer?"),
            reply_markup=office_keyboard(summary.id, faq, current_locale()),
        )
    elif action == "office":
        data = await state.get_data()
        if not data.get("answers"):
            await message.answer(_("Write the answer first."))
            return
        office = None if callback_data.value == NO_OFFICE else callback_data.value
        await state.update_data(office=office)
        await preview(message, faq, summary, data.get("answers") or {}, office)
    elif action == "publish":
        data = await state.get_data()
        texts = dict(data.get("answers") or {})
        office = data.get("office")
        try:
            entry, notified = await unanswered.publish_answer(
                session, summary.id, answers=texts, office=office, staff_id=db_user.id
            )
        except GroupClosed:
            await session.rollback()
            await state.clear()
            await message.answer(_("This group was already handled."))
            return
        except FaqDataError as exc:
            await session.rollback()
            await message.answer(html.escape(str(exc)))
            return
        # State first: it is written through this session, and tick() writes through its own,
        # so nothing of this update may stay uncommitted (SQLite has one writer).
        await state.clear()
        await session.commit()
        await faq.refresh()
        await unanswered.tick()
        missing = [LANGUAGE_NAMES[code] for code in LANGUAGES if code not in entry.answer]
        text = _("✅ Published as FAQ entry {key}; it is live now.").format(key=entry.key)
        if missing:
            text += "\n" + _("Needs translation: {languages}.").format(
                languages=", ".join(missing)
            )
        text += "\n" + _(
            "Students who asked this in the last {days} days get the answer: {n} (never during "
            "quiet hours, and not those who switched announcements off)."
        ).format(days=NOTIFY_DAYS, n=notified)
        await message.answer(text)
    elif action == "clause":
        await state.set_data({"group": summary.id})
        await state.set_state(AnswerGroup.clause)
        await message.answer(
            _("Send the number of the clause that answers these questions, for example 5.4.9."),
            reply_markup=ForceReply(selective=True),
        )
    elif action == "confirm" and callback_data.value in answers.regulation:
        try:
            notified = await unanswered.mark_clause(
                session, summary.id, callback_data.value, staff_id=db_user.id
            )
        except GroupClosed:
            await session.rollback()
            await state.clear()
            await message.answer(_("This group was already handled."))
            return
        # State first: it is written through this session, and tick() writes through its own,
        # so nothing of this update may stay uncommitted (SQLite has one writer).
        await state.clear()
        await session.commit()
        await faq.refresh()
        await unanswered.tick()
        await message.answer(
            _(
                "📖 Group #{id} is answered by {citation}. I will answer these questions with it "
                "from now on; students told: {n}."
            ).format(id=summary.id, citation=answers.cite(callback_data.value), n=notified)
        )
    elif action == "dismiss":
        try:
            await unanswered.dismiss(session, summary.id, staff_id=db_user.id)
        except GroupClosed:
            await session.rollback()
            await message.answer(_("This group was already handled."))
            return
        await session.commit()
        await state.clear()
        await message.answer(
            _(
                "🚫 Group #{id} is marked «not for us»: it leaves the list, and questions like "
                "it will not come back."
            ).format(id=summary.id)
        )


def language_keyboard(group_id: int, written: dict[str, str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        mark = "✅ " if code in written else "➕ "
        builder.button(
            text=mark + LANGUAGE_NAMES[code],
            callback_data=UnansweredCallback(action="lang", group=group_id, value=code),
        )
    if written:
        builder.button(
            text=_("➡️ Choose the office"),
            callback_data=UnansweredCallback(action="offices", group=group_id),
        )
    builder.button(
        text=_("✖️ Stop"), callback_data=UnansweredCallback(action="stop", group=group_id)
    )
    builder.adjust(3, 1, 1)
    return builder.as_markup()


def office_keyboard(group_id: int, faq: FaqService, lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for office_id, name in office_choices(faq.offices, lang):
        builder.button(
            text=name[:60],
            callback_data=UnansweredCallback(action="office", group=group_id, value=office_id),
        )
    builder.button(
        text=_("— No office (the helpdesk)"),
        callback_data=UnansweredCallback(action="office", group=group_id, value=NO_OFFICE),
    )
    builder.adjust(1)
    return builder.as_markup()


async def preview(
    message: Message,
    faq: FaqService,
    summary: GroupSummary,
    texts: dict[str, str],
    office: str | None,
) -> None:
    lang = current_locale()
    questions: dict[str, str] = {}
    for example_lang, text in summary.examples:
        questions.setdefault(example_lang, text)
    draft = FaqEntry(
        key="draft",
        question=questions or {"en": summary.title},
        answer=dict(texts),
        office=office,
        to_confirm=False,
    )
    missing = [LANGUAGE_NAMES[code] for code in LANGUAGES if code not in texts]
    lines = [
        _("Preview, as students using {language} will see it:").format(
            language=LANGUAGE_NAMES.get(lang, lang)
        ),
        "",
        faq.render_entry(draft, lang),
        "",
    ]
    if missing:
        lines.append(
            _(
                "⚠️ Needs translation: {languages}. Students using them get the text you wrote, "
                "with a note."
            ).format(languages=", ".join(missing))
        )
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Publish"), callback_data=UnansweredCallback(action="publish", group=summary.id)
    )
    builder.button(
        text=_("✏️ Languages"),
        callback_data=UnansweredCallback(action="answer_more", group=summary.id),
    )
    builder.button(
        text=_("✖️ Stop"), callback_data=UnansweredCallback(action="stop", group=summary.id)
    )
    builder.adjust(1)
    await message.answer("\n".join(lines)[:4000], reply_markup=builder.as_markup())


async def answer_more(
    callback: CallbackQuery,
    callback_data: UnansweredCallback,
    db_user: User,
    state: FSMContext,
) -> None:
    """Back from the preview to the languages (the texts written so far are kept)."""
    if not has_role(db_user, Role.STAFF):
        await _refuse(callback)
        return
    await callback.answer()
    data = await state.get_data()
    if isinstance(callback.message, Message) and data.get("group"):
        await callback.message.answer(
            _("Add or rewrite a language, or choose the office."),
            reply_markup=language_keyboard(int(data["group"]), dict(data.get("answers") or {})),
        )


async def on_answer_text(
    message: Message,
    session: AsyncSession,
    db_user: User,
    state: FSMContext,
    unanswered: UnansweredService,
) -> None:
    if not has_role(db_user, Role.STAFF):
        await state.clear()
        return
    data = await state.get_data()
    text = (message.text or "").strip()
    lang = data.get("lang")
    if lang not in LANGUAGES or not data.get("group"):
        await state.clear()
        return
    if len(text) > MAX_ANSWER:
        await message.answer(
            _("The answer is too long ({count} characters); keep it within {limit}.").format(
                count=len(text), limit=MAX_ANSWER
            )
        )
        return
    written = dict(data.get("answers") or {})
    written[lang] = text
    await state.update_data(answers=written)
    await state.set_state(None)
    missing = [LANGUAGE_NAMES[code] for code in LANGUAGES if code not in written]
    reply = _("Saved the answer in {language}.").format(language=LANGUAGE_NAMES[lang])
    if missing:
        reply += "\n" + _(
            "Needs translation: {languages}. Add them now, or choose the office and publish: "
            "students using those languages then get this text with a note."
        ).format(languages=", ".join(missing))
    await message.answer(reply, reply_markup=language_keyboard(int(data["group"]), written))


async def on_clause_text(
    message: Message, db_user: User, state: FSMContext, answers: AnswerService
) -> None:
    if not has_role(db_user, Role.STAFF):
        await state.clear()
        return
    data = await state.get_data()
    clause_id = parse_clause_id((message.text or "").strip())
    if clause_id is None or clause_id not in answers.regulation:
        await message.answer(
            answers.no_such_clause((message.text or "").strip()[:40])
            + "\n"
            + _("Send a clause number such as 5.4.9, or /cancel.")
        )
        return
    await state.set_state(None)
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Confirm {citation}").format(citation=answers.cite(clause_id)),
        callback_data=UnansweredCallback(
            action="confirm", group=int(data.get("group") or 0), value=clause_id
        ),
    )
    builder.button(text=_("✖️ Stop"), callback_data=UnansweredCallback(action="stop"))
    builder.adjust(1)
    intro = _("These questions will be answered with {citation}:").format(
        citation=answers.cite(clause_id)
    )
    card = answers.clause_card(clause_id, current_locale(), limit=600)
    await message.answer(f"{intro}\n{card}", reply_markup=builder.as_markup())


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(staff_place)
    staff = RoleFilter(Role.STAFF)
    router.message.register(unanswered_command, staff, Command("unanswered"))
    router.message.register(
        not_staff, Command("unanswered"), F.chat.type != "private"
    )  # in private a non-staff user gets the unknown-command reply
    typed = (F.text, ~F.text.startswith("/"))
    router.message.register(on_answer_text, StateFilter(AnswerGroup.text), *typed)
    router.message.register(on_clause_text, StateFilter(AnswerGroup.clause), *typed)
    router.callback_query.register(
        answer_more, UnansweredCallback.filter(F.action == "answer_more")
    )
    router.callback_query.register(on_button, UnansweredCallback.filter())
    return router
