"""The student-facing answer to "can my programme be studied online / at a distance?".

``render_verdict(result, lang)`` turns a ``knowledge.programmes.LookupResult`` into HTML
(parse mode HTML) in kk/ru/en through the gettext catalogs; every statement cites its clause.
It needs translations in context (aiogram's: the i18n middleware in handlers; or
``bot.texts.use_locale``, as in the CLI) and switches that context to ``lang`` while it renders.
"""

from __future__ import annotations

from html import escape as _escape

from bot.texts import gettext as _
from bot.texts import switch_locale as _locale
from knowledge.programmes import (
    Candidate,
    Category,
    Direction,
    DLCap,
    LookupResult,
    Reason,
    Verdict,
)

MAX_LISTED = 12


def escape(text: str) -> str:
    """Escape for Telegram's HTML parse mode (text nodes: &, <, >)."""
    return _escape(text, quote=False)


def _cite(clause: str) -> str:
    if clause == "appendix-1":
        return _("Appendix 1")
    return _("clause {id}").format(id=clause)


def _level(direction: Direction) -> str:
    if direction.level == "doctoral":
        return _("doctoral")
    return _("bachelor's") if direction.level == "bachelor" else _("master's")


def _groups(candidates: tuple[Candidate, ...]) -> list[list[Candidate]]:
    """Bachelor and master of one direction (6B091, 7M091) answer together."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[Candidate]] = {}
    for c in candidates:
        key = (c.direction.suffix, str(c.verdict.dl_cap), c.verdict.clauses)
        groups.setdefault(key, []).append(c)
    return list(groups.values())


def _title(group: list[Candidate], lang: str) -> str:
    first = group[0].direction
    codes = " / ".join(escape(c.direction.code) for c in group)
    title = f"<b>{codes}</b> {escape(first.name_in(lang))}"
    if len(group) == 1:
        title += f" ({_level(first)})"
    return title


def _online_line(direction: Direction, verdict: Verdict) -> str:
    cite_rule, cite_list = _cite("6.2"), _cite("appendix-1")
    if direction.level == "doctoral":
        return _(
            "Online-learning form: Appendix 1 lists bachelor's and master's directions only, so "
            "it does not bar doctoral programmes ({cite_rule}; {cite_list}); the "
            "distance-learning caps apply to them as well."
        ).format(cite_rule=cite_rule, cite_list=cite_list)
    if verdict.online_allowed:
        return _(
            "Online-learning form: <b>allowed</b>. The direction is not in the list of "
            "Appendix 1 of directions for which online study is not allowed "
            "({cite_rule}; {cite_list})."
        ).format(cite_rule=cite_rule, cite_list=cite_list)
    return _(
        "Online-learning form: <b>not allowed</b>. The direction is in the list of Appendix 1 "
        "(printed there as «{printed}»), for which external and online study are not allowed "
        "({cite_rule}; {cite_list})."
    ).format(
        printed=escape(direction.appendix_1_name_kk or direction.name_in("kk")),
        cite_rule=cite_rule,
        cite_list=cite_list,
    )


def _dl_line(direction: Direction, verdict: Verdict) -> str:
    cap = verdict.dl_cap
    if cap is DLCap.NONE:
        return _(
            "Distance learning: <b>not allowed</b> for pedagogical programmes, except the cases "
            "in paragraph 2 of article 37-2 of the Law «On Education» ({cite})."
        ).format(cite=_cite("5.4.6"))
    if cap is DLCap.ASK:
        return _(
            "Distance learning depends on the programme: music art and choreography at most "
            "<b>20 %</b> of disciplines ({cite_20}), other arts programmes at most <b>50 %</b> "
            "({cite_50}). Is your programme in music art or choreography?"
        ).format(cite_20=_cite("5.4.5"), cite_50=_cite("5.4.7"))
    if direction.category is Category.ARTS and cap is DLCap.TWENTY:
        return _(
            "Distance learning: for music art and choreography programmes at most <b>20 %</b> "
            "of the total number of disciplines over the whole period of study ({cite})."
        ).format(cite=_cite("5.4.5"))
    if direction.category is Category.ARTS:
        return _(
            "Distance learning: for arts programmes other than music art and choreography at "
            "most <b>50 %</b> of the total number of disciplines over the whole period of study "
            "({cite})."
        ).format(cite=_cite("5.4.7"))
    clause = "5.4.5" if cap is DLCap.TWENTY else "5.4.7"
    return _(
        "Distance learning: at most <b>{percent} %</b> of the total number of disciplines over "
        "the whole period of study may be moved to distance learning ({cite})."
    ).format(percent=str(cap), cite=_cite(clause))


def _short_verdict(verdict: Verdict) -> str:
    online = (
        _("online: allowed ({cite})")
        if verdict.online_allowed
        else _("online: not allowed ({cite})")
    ).format(cite=_cite("6.2"))
    cap = verdict.dl_cap
    if cap is DLCap.NONE:
        dl = _("distance learning: not allowed ({cite})").format(cite=_cite("5.4.6"))
    elif cap is DLCap.ASK:
        dl = _("distance learning: depends on the programme ({cite})").format(
            cite=f"{_cite('5.4.5')}, {_cite('5.4.7')}"
        )
    else:
        dl = _("distance learning: up to {percent} % ({cite})").format(
            percent=str(cap), cite=_cite("5.4.5" if cap is DLCap.TWENTY else "5.4.7")
        )
    return f"{online}; {dl}"


def _full_verdict(direction: Direction, verdict: Verdict, lang: str) -> list[str]:
    lines = [_online_line(direction, verdict)]
    note = direction.note_in(lang)
    if note and direction.appendix_1:
        lines.append(f"<i>{escape(note)}</i>")
    lines.append(_dl_line(direction, verdict))
    return lines


def render_verdict(result: LookupResult, lang: str) -> str:
    """The answer for the student, HTML, in ``lang`` (kk/ru/en)."""
    with _locale(lang):
        return _render(result, lang)


def _render(result: LookupResult, lang: str) -> str:
    reason = result.reason
    if reason is Reason.EMPTY_QUERY:
        return _(
            "Send the code of your educational programme (for example 6B06102 or 6B061) "
            "or its name."
        )
    if reason is Reason.UNKNOWN_CODE:
        return _(
            "Code <b>{code}</b> was not found among the directions of training for bachelor's "
            "(6B…) and master's (7M…) programmes. Check the code in your study plan or send the "
            "programme name."
        ).format(code=escape(result.code or result.query))
    if reason is Reason.NOT_FOUND or not result.candidates:
        return _(
            "No direction of training matches «{query}». Send the programme code (for example "
            "6B06102) or its name as in your study plan."
        ).format(query=escape(result.query))

    groups = _groups(result.candidates)
    if len(groups) == 1:
        first = groups[0][0]
        lines = [_title(groups[0], lang)]
        lines += _full_verdict(first.direction, first.verdict, lang)
        return "\n".join(lines)

    if reason is Reason.FIELD_CODE and result.field is not None:
        head = _(
            "<b>{code}</b> is a broad field, «{name}». Send the code of your direction:"
        ).format(code=escape(result.field.code), name=escape(result.field.name_in(lang)))
    else:
        head = _(
            "«{query}» may mean several directions of training. Which one is yours? Send its code:"
        ).format(query=escape(result.query))
    lines = [head]
    same = len({(c.verdict.online_allowed, c.verdict.dl_cap) for c in result.candidates}) == 1
    for group in groups[:MAX_LISTED]:
        item = f"• {_title(group, lang)}"
        if not same:
            item += f" — {_short_verdict(group[0].verdict)}"
        lines.append(item)
    if len(groups) > MAX_LISTED:
        lines.append("…")
    if same:
        first = result.candidates[0]
        lines.append("")
        lines.append(_("The rules are the same for all of them:"))
        cites = {"cite_rule": _cite("6.2"), "cite_list": _cite("appendix-1")}
        if first.verdict.online_allowed:
            lines.append(
                _(
                    "Online-learning form: <b>allowed</b>: these directions are not in the list "
                    "of Appendix 1 ({cite_rule}; {cite_list})."
                ).format(**cites)
            )
        else:
            lines.append(
                _(
                    "Online-learning form: <b>not allowed</b>: these directions are in the list "
                    "of Appendix 1 ({cite_rule}; {cite_list})."
                ).format(**cites)
            )
        lines.append(_dl_line(first.direction, first.verdict))
    return "\n".join(lines)
