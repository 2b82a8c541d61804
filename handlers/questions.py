"""Free text outside wizards is a question: a cited answer, its buttons, and the question log."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.aiogram_compat import pack_callback
from bot.callbacks import AskPersonCallback, StartApplicationCallback
from bot.db.base import one_statement_transaction, utcnow
from bot.db.models import Question, User
from bot.db.models.faq import QueueReason
from bot.db.repositories import questions as question_log
from bot.i18n import current_locale
from bot.menu import not_menu_item
from bot.metrics import metrics
from bot.services.answers import (
    LOW_CONFIDENCE_KINDS,
    MAX_QUESTION_CHARS,
    Answer,
    AnswerKind,
    AnswerService,
)
from bot.services.faq import FaqService  # issue 12: FAQ and offices behind unsure answers
from bot.services.unanswered import UnansweredService
from bot.views.rules import RulesCallback, clause_button


class AnswerCallback(CallbackData, prefix="ans"):
    """Buttons under an answer: ``full`` / ``rel`` / ``show`` a clause, ``up`` / ``down``."""

    action: str
    q: int = 0  # the stored question
    c: str = ""  # a clause ID


# --- the question log ------------------------------------------------------------------------


async def store_question(
    session: AsyncSession, *, user_id: int, text: str, answer: Answer
) -> Question:
    values = {
        "user_id": user_id,
        "text": text[: MAX_QUESTION_CHARS * 5],
        "language": answer.lang,
        "clauses": list(answer.clauses),
        "confidence": float(answer.confidence),
        "kind": str(answer.kind),
        # issue 13: counted by /stats from an index, without reading the JSON
        "top_clause": answer.clauses[0] if answer.clauses else None,
        "faq_key": getattr(answer, "entry_key", None),
        "created_at": utcnow(),
    }
    row = await question_log.add(session, **values)
    metrics.questions_answered.inc()
    return row


# --- keyboards -------------------------------------------------------------------------------


def _feedback_row(builder: InlineKeyboardBuilder, question_id: int) -> None:
    builder.button(text="👍", callback_data=AnswerCallback(action="up", q=question_id))
    builder.button(text="👎", callback_data=AnswerCallback(action="down", q=question_id))


def answer_keyboard(
    answers: AnswerService, answer: Answer, question_id: int, *, offer_person: bool
) -> InlineKeyboardMarkup | None:
    # Built row by row rather than with InlineKeyboardBuilder, which deep-copies every button,
    # and the callback data packed without a model per button (pack_callback: the same
    # strings): this keyboard goes under every answer, the hottest path of the bot (issue 18).
    rows: list[list[InlineKeyboardButton]] = []
    if answer.primary is not None:
        rows.append(
            [
                _button(
                    _("📄 Full clause"),
                    pack_callback(AnswerCallback, action="full", q=question_id, c=answer.primary),
                ),
                _button(
                    _("🔗 Related"),
                    pack_callback(AnswerCallback, action="rel", q=question_id, c=answer.primary),
                ),
            ]
        )
    if answer.action is not None and answer.action.startswith("apply:"):
        target = answer.action.removeprefix("apply:")
        if target == "online":
            label = _("📝 Apply for the online form")
            data = pack_callback(StartApplicationCallback, kind="online")
        else:
            label = _("📝 Apply for distance learning")
            data = pack_callback(StartApplicationCallback, kind="dl", ground=target)
        rows.append([_button(label, data)])
    for cid in answer.suggestions:
        rows.append(
            [
                _button(
                    _("📄 Open {citation}").format(citation=answers.cite(cid)),
                    pack_callback(AnswerCallback, action="show", q=question_id, c=cid),
                )
            ]
        )
    replied = answer.kind in (
        AnswerKind.ANSWER,
        AnswerKind.PROGRAMME,
        AnswerKind.UNSURE,
        AnswerKind.FAQ,
        AnswerKind.OFFICE,
    )
    if replied:
        rows.append(
            [
                _button("👍", pack_callback(AnswerCallback, action="up", q=question_id)),
                _button("👎", pack_callback(AnswerCallback, action="down", q=question_id)),
            ]
        )
    if replied or offer_person or answer.kind is AnswerKind.OUT_OF_SCOPE:  # no office: helpdesk
        rows.append(
            [
                _button(
                    _("🙋 Ask a person"),
                    pack_callback(AskPersonCallback, question_id=question_id),
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _button(text: str, callback_data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=callback_data)


# --- handlers --------------------------------------------------------------------------------


async def question(
    message: Message,
    session: AsyncSession,
    db_user: User,
    answers: AnswerService,
    faq: FaqService,
    unanswered: UnansweredService,
) -> None:
    text = message.text or ""
    lang = current_locale()
    # the clauses and the FAQ in one index (issues 12, 18): ranked with the FAQ's matcher;
    # only an unsure or not-covered answer turns into an FAQ entry or an office
    answer = await answers.ask(text, lang, matcher=faq.matcher)
    answer = await faq.resolve(text, lang, answer, session=session)
    repeated_low = False
    if answer.low_confidence:  # only then does the previous question matter
        previous = await question_log.previous(session, db_user.id)
        repeated_low = previous is not None and previous.kind in LOW_CONFIDENCE_KINDS
    if not unanswered.queues(str(answer.kind)):
        # the question is the transaction's one statement: on PostgreSQL no BEGIN and COMMIT
        # round trips (issue 18); with a queue item, both rows are written together
        await one_statement_transaction(session)
    row = await store_question(session, user_id=db_user.id, text=text, answer=answer)
    await unanswered.record(session, row)  # issue 12: unsure / not covered -> the staff's queue
    # Stored before the reply goes out: the write lock (SQLite) and the row locks are not held
    # across the call to Telegram, and the question is kept even if that call fails.
    await session.commit()
    reply = answer.text
    if repeated_low:
        reply += "\n\n" + _(
            "It seems I cannot answer this well. A person from the helpdesk can: press "
            "«🙋 Ask a person» below and they will reply here."
        )
    await message.answer(
        reply, reply_markup=answer_keyboard(answers, answer, row.id, offer_person=repeated_low)
    )


async def full_clause(
    callback: CallbackQuery, callback_data: AnswerCallback, answers: AnswerService
) -> None:
    await callback.answer()
    if callback.message is None or callback_data.c not in answers.regulation:
        return
    parts = answers.full_clause_parts(callback_data.c, current_locale())
    for part in parts[:-1]:
        await callback.message.answer(part)
    await callback.message.answer(parts[-1], reply_markup=_related_button(callback_data))


def _related_button(callback_data: AnswerCallback) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🔗 Related"),
        callback_data=AnswerCallback(action="rel", q=callback_data.q, c=callback_data.c),
    )
    return builder.as_markup()


async def related(
    callback: CallbackQuery, callback_data: AnswerCallback, answers: AnswerService
) -> None:
    await callback.answer()
    if callback.message is None or callback_data.c not in answers.regulation:
        return
    lang = current_locale()
    clauses = answers.related(callback_data.c)
    if not clauses:
        await callback.message.answer(
            _("No clauses are linked to {citation}. Send /rules to browse the regulation.").format(
                citation=answers.cite(callback_data.c)
            )
        )
        return
    builder = InlineKeyboardBuilder()
    for clause in clauses:
        builder.button(
            text=clause_button(clause, lang, answers),
            callback_data=RulesCallback(to="c", id=clause.id),
        )
    builder.adjust(1)
    await callback.message.answer(
        _("Clauses related to {citation}:").format(
            citation=html.escape(answers.cite(callback_data.c))
        ),
        reply_markup=builder.as_markup(),
    )


async def show_clause(
    callback: CallbackQuery,
    callback_data: AnswerCallback,
    answers: AnswerService,
) -> None:
    """A suggestion under an "I am not sure" answer: the clause as a regular answer."""
    await callback.answer()
    if callback.message is None or callback_data.c not in answers.regulation:
        return
    text = answers.clause_card(callback_data.c, current_locale())
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🔗 Related"),
        callback_data=AnswerCallback(action="rel", q=callback_data.q, c=callback_data.c),
    )
    _feedback_row(builder, callback_data.q)
    builder.button(
        text=_("🙋 Ask a person"), callback_data=AskPersonCallback(question_id=callback_data.q)
    )
    builder.adjust(1, 2, 1)
    await callback.message.answer(text, reply_markup=builder.as_markup())


async def feedback(
    callback: CallbackQuery,
    callback_data: AnswerCallback,
    session: AsyncSession,
    db_user: User,
    unanswered: UnansweredService,
) -> None:
    row = await question_log.get(session, callback_data.q)
    if row is None or row.user_id != db_user.id:
        await callback.answer(_("This button is no longer active."))
        return
    row.feedback = 1 if callback_data.action == "up" else -1
    row.feedback_at = utcnow()
    if row.feedback > 0:
        await callback.answer(_("Thank you! Glad it helped."))
    else:
        await unanswered.record(session, row, reason=QueueReason.DISLIKED)  # issue 12
        await callback.answer(
            _("Thank you. Press «🙋 Ask a person» if you need a person to answer.")
        )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(
        question,
        StateFilter(None),
        F.text,
        ~F.text.startswith("/"),
        not_menu_item,
        flags={"question_lane": True},  # bot.middlewares.lane: tried without the routers before
    )
    router.callback_query.register(full_clause, AnswerCallback.filter(F.action == "full"))
    router.callback_query.register(related, AnswerCallback.filter(F.action == "rel"))
    router.callback_query.register(show_clause, AnswerCallback.filter(F.action == "show"))
    router.callback_query.register(feedback, AnswerCallback.filter(F.action.in_({"up", "down"})))
    return router
