"""/rules: browse Regulation No. 066 by section and clause, or jump to a clause by its number."""

from __future__ import annotations

import html
import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.edits import edit_or_send
from bot.i18n import current_locale
from bot.menu import MENU_RULES
from bot.services.answers import AnswerService, parse_clause_id
from bot.views.rules import RulesCallback, clause_button, label
from knowledge.regulation import Clause

PAGE_SIZE = 10


def _section_number(section_id: str) -> str:
    return "" if section_id.startswith("appendix") else f"{section_id}. "


def root_view(answers: AnswerService, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    builder = InlineKeyboardBuilder()
    for section in answers.regulation.sections.values():
        builder.button(
            text=label(_section_number(section.id) + section.title_in(lang)),
            callback_data=RulesCallback(to="s", id=section.id),
        )
    builder.adjust(1)
    text = _(
        "📚 <b>Regulation No. 066</b> on distance learning and the online form of study.\n"
        "Choose a section, or send /rules with a clause number (for example /rules 5.4.5)."
    )
    return text, builder.as_markup()


def _top_level(answers: AnswerService, section_id: str) -> list[Clause]:
    return [c for c in answers.regulation.in_section(section_id) if c.parent is None]


def section_view(
    answers: AnswerService, lang: str, section_id: str, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    section = answers.regulation.sections[section_id]
    clauses = _top_level(answers, section_id)
    pages = max(1, -(-len(clauses) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    builder = InlineKeyboardBuilder()
    shown = clauses[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    for clause in shown:
        builder.button(
            text=clause_button(clause, lang, answers),
            callback_data=RulesCallback(to="c", id=clause.id),
        )
    sizes = [1] * len(shown)
    nav = 0
    if page > 0:
        builder.button(text="◀️", callback_data=RulesCallback(to="s", id=section_id, page=page - 1))
        nav += 1
    if page < pages - 1:
        builder.button(text="▶️", callback_data=RulesCallback(to="s", id=section_id, page=page + 1))
        nav += 1
    if nav:
        sizes.append(nav)
    builder.button(text=_("⬅️ Sections"), callback_data=RulesCallback(to="root"))
    sizes.append(1)
    builder.adjust(*sizes)
    text = "📚 <b>{title}</b>\n{hint}".format(
        title=html.escape(_section_number(section_id) + section.title_in(lang)),
        hint=_("Choose a clause:"),
    )
    if pages > 1:
        text += "\n" + _("Page {page} of {pages}").format(page=page + 1, pages=pages)
    return text, builder.as_markup()


def clause_view(
    answers: AnswerService, lang: str, clause_id: str
) -> tuple[str, InlineKeyboardMarkup]:
    reg = answers.regulation
    clause = reg.clauses[clause_id]
    builder = InlineKeyboardBuilder()
    children = reg.children(clause_id)
    for child in children:
        builder.button(
            text=clause_button(child, lang, answers),
            callback_data=RulesCallback(to="c", id=child.id),
        )
    sizes = [1] * len(children)
    if clause.parent:
        back = RulesCallback(to="c", id=clause.parent)
        back_text = _("⬅️ Back to {citation}").format(citation=answers.cite(clause.parent))
    else:
        siblings = _top_level(answers, clause.section)
        page = siblings.index(clause) // PAGE_SIZE if clause in siblings else 0
        back = RulesCallback(to="s", id=clause.section, page=page)
        back_text = _("⬅️ Back to the section")
    builder.button(text=back_text, callback_data=back)
    builder.button(text=_("📚 Sections"), callback_data=RulesCallback(to="root"))
    sizes.append(2)
    builder.adjust(*sizes)
    return answers.clause_card(clause_id, lang, items=False), builder.as_markup()


# "/rules appendix", "/rules приложение", "/rules қосымша": there is one appendix.
_APPENDIX_WORD = re.compile(
    r"(?i)^\s*(?:appendix|app\.?|прил(?:ожени[а-я]*|\.)?|қосымша[а-я]*|косымша[а-я]*|"
    r"qosymsha)\s*(?:№\s*)?(?:1|i)?\s*$"
)
_NUMBERED = re.compile(r"\d+(?:\.\d+)+")


def nearest_clauses(answers: AnswerService, wanted: str, k: int = 3) -> list[str]:
    """Clauses next to a number that does not exist: "5.4.17" → 5.4.16, 5.4.15 and 5.4 (its
    neighbours by number under the same parent, then the parent); otherwise the search's."""
    reg = answers.regulation
    clause_id = parse_clause_id(wanted)
    if clause_id is not None and _NUMBERED.fullmatch(clause_id):
        parent, _dot, last = clause_id.rpartition(".")
        if parent in reg:
            siblings = reg.children(parent)
        elif parent in reg.sections:
            siblings = _top_level(answers, parent)
        else:
            siblings = []
        if siblings:
            wanted_no = int(last)

            def distance(clause: Clause) -> tuple[int, int]:
                number = int(clause.id.rsplit(".", 1)[1])
                return abs(number - wanted_no), -number

            near = [c.id for c in sorted(siblings, key=distance)]
            return [*near[: k - 1], parent] if parent in reg else near[:k]
    return answers.nearest_ids(wanted)


def not_found_view(
    answers: AnswerService, lang: str, wanted: str
) -> tuple[str, InlineKeyboardMarkup]:
    builder = InlineKeyboardBuilder()
    nearest = nearest_clauses(answers, wanted)
    for cid in nearest:
        builder.button(
            text=clause_button(answers.regulation.clauses[cid], lang, answers),
            callback_data=RulesCallback(to="c", id=cid),
        )
    builder.button(text=_("📚 Sections"), callback_data=RulesCallback(to="root"))
    builder.adjust(1)
    text = answers.no_such_clause(wanted, nearest)
    if not nearest:
        text += "\n" + _("Choose a section below.")
    return text, builder.as_markup()


# --- handlers --------------------------------------------------------------------------------


async def rules_command(message: Message, command: CommandObject, answers: AnswerService) -> None:
    lang = current_locale()
    wanted = (command.args or "").strip()
    if not wanted:
        text, markup = root_view(answers, lang)
    else:
        clause_id = parse_clause_id(wanted)
        if clause_id is None and _APPENDIX_WORD.match(wanted):
            clause_id = "appendix-1"
        if clause_id is not None and clause_id in answers.regulation:
            text, markup = clause_view(answers, lang, clause_id)
        elif clause_id is not None and clause_id in answers.regulation.sections:
            text, markup = section_view(answers, lang, clause_id, 0)  # "/rules 5": section 5
        else:
            text, markup = not_found_view(answers, lang, wanted)
    await message.answer(text, reply_markup=markup)


async def rules_menu(message: Message, answers: AnswerService) -> None:
    text, markup = root_view(answers, current_locale())
    await message.answer(text, reply_markup=markup)


async def navigate(
    callback: CallbackQuery, callback_data: RulesCallback, answers: AnswerService
) -> None:
    lang = current_locale()
    reg = answers.regulation
    if callback_data.to == "root":
        text, markup = root_view(answers, lang)
    elif callback_data.to == "s" and callback_data.id in reg.sections:
        text, markup = section_view(answers, lang, callback_data.id, callback_data.page)
    elif callback_data.to == "c" and callback_data.id in reg:
        text, markup = clause_view(answers, lang, callback_data.id)
    else:
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await edit_or_send(callback.message, text, reply_markup=markup)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(rules_command, Command("rules"))
    router.message.register(rules_menu, F.text == MENU_RULES)
    router.callback_query.register(navigate, RulesCallback.filter())
    return router
