"""Cited answers to free-text questions about Regulation No. 066.

``AnswerService.answer(question, lang)`` is the one place a question becomes an answer: the bot's
free-text handler and ``studentbot ask`` both call it, so the evaluation measures exactly what
students get (``/rules`` uses the same citations and clause cards). It is synchronous and
bounded (the index answers in about a millisecond; questions over ``MAX_QUESTION_CHARS`` are
refused); ``await service.ask(...)`` runs longer questions in a worker thread so the event loop
never waits on them.

Routing, in order:

1. bad input (empty, emoji only, digits only, too long, SQL or HTML) → ``empty`` with a hint;
2. a clause ID typed as the question ("5.4.5", "п. 6.2") → that clause;
3. a programme code, or a direction name together with a question about the online form or
   distance learning → the programme lookup; its clauses (6.2/appendix-1 for online,
   5.4.5–5.4.7 for the distance-learning share) rank first;
4. a clause ID inside the question ("what does 6.6 say?") → that clause, then the search's;
5. the clause search: confident → ``answer`` quoting the best clause; not confident but on
   topic (``SearchResult.on_topic``: a clause matches fully and the question is mostly the
   regulation's vocabulary) → ``unsure`` with the closest clauses; otherwise ``out_of_scope``.

The texts are HTML in the requested language; ``Answer.plain`` is the same without markup.
"""

from __future__ import annotations

import asyncio
import html
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from rapidfuzz import fuzz

from bot.i18n import make_i18n, use_locale
from knowledge.programmes import ProgrammeCatalog, find_programme_mentions
from knowledge.regulation import Clause, Regulation, load_regulation
from knowledge.search import KnowledgeIndex, SearchResult

LANGS: tuple[str, ...] = ("kk", "ru", "en")
MAX_QUESTION_CHARS = 1000
THREAD_ABOVE_CHARS = 200  # longer questions are answered in a worker thread
QUOTE_CHARS = 700  # the quote under an answer; the full text is one button away
LEAD_CHARS = 300  # a parent's opening shown above one of its items
FULL_CHARS = 3800  # one Telegram message (4096) with room for the title and citation
SUGGESTIONS = 3
PROGRAMME_CONFIDENCE = 0.9
PROGRAMME_UNCLEAR_CONFIDENCE = 0.7
PROGRAMME_NOT_FOUND_CONFIDENCE = 0.3
ONLINE_CLAUSES: tuple[str, ...] = ("6.2", "appendix-1")
PROGRAMME_CLAUSES = frozenset({"5.4.5", "5.4.6", "5.4.7", *ONLINE_CLAUSES})
# A direction name routes to the programme lookup only when the search, too, finds a programme
# clause scoring at least this share of its best hit: "who ensures information security online"
# names a direction but asks about 6.19.2.
PROGRAMME_SCORE_RATIO = 0.6


# Whole messages that are a greeting or a thank-you, not a question (lower case, no punctuation).
GREETINGS = frozenset({
    "привет", "здравствуйте", "здравствуй", "добрый день", "добрый вечер", "доброе утро",
    "сәлем", "салем", "сәлеметсіз бе", "салеметсиз бе", "сәлеметсіздер ме", "қайырлы күн",
    "қайырлы таң", "hi", "hello", "hey", "good morning", "good afternoon", "good evening",
})
THANKS = frozenset({
    "спасибо", "спасибо большое", "большое спасибо", "благодарю", "рахмет", "рақмет",
    "көп рахмет", "көп рақмет", "үлкен рахмет", "thanks", "thank you", "thank you very much",
    "thanks a lot", "thx",
})


def small_talk(question: str) -> str | None:
    """"greeting" or "thanks" when the whole message is one, else None."""
    words = " ".join(re.findall(r"\w+", question.lower()))
    if words in GREETINGS:
        return "greeting"
    if words in THANKS:
        return "thanks"
    return None


class AnswerKind(StrEnum):
    ANSWER = "answer"
    UNSURE = "unsure"
    OUT_OF_SCOPE = "out_of_scope"
    PROGRAMME = "programme"
    EMPTY = "empty"


LOW_CONFIDENCE_KINDS = frozenset({AnswerKind.UNSURE, AnswerKind.OUT_OF_SCOPE})


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    clauses: tuple[str, ...]  # ranked clause IDs, best first (out of scope: none is cited)
    confidence: float  # 0..1
    text: str  # HTML, in ``lang``
    lang: str

    @property
    def primary(self) -> str | None:
        """The clause the answer quotes (None for unsure, out-of-scope and bad input)."""
        if self.kind in (AnswerKind.ANSWER, AnswerKind.PROGRAMME) and self.clauses:
            return self.clauses[0]
        return None

    @property
    def suggestions(self) -> tuple[str, ...]:
        return self.clauses[:SUGGESTIONS] if self.kind is AnswerKind.UNSURE else ()

    @property
    def low_confidence(self) -> bool:
        return self.kind in LOW_CONFIDENCE_KINDS

    @property
    def plain(self) -> str:
        return to_plain(self.text)


_TAG = re.compile(r"<[^>]+>")


def to_plain(text: str) -> str:
    """HTML parse-mode text as plain text (CLI, JSON)."""
    return html.unescape(_TAG.sub("", text))


# --- the knowledge, loaded once per process --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Knowledge:
    regulation: Regulation
    catalog: ProgrammeCatalog
    index: KnowledgeIndex


@lru_cache(maxsize=1)
def load_knowledge() -> Knowledge:
    """Regulation, programme catalog and search index; built once, shared by every service."""
    regulation = load_regulation()
    catalog = ProgrammeCatalog.load()
    return Knowledge(regulation, catalog, KnowledgeIndex.build(regulation, catalog))


# --- input checks ----------------------------------------------------------------------------

_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SQL = re.compile(
    r"(?is)\b(select\b.+\bfrom|insert\s+into|drop\s+(table|database)|delete\s+from|"
    r"update\s+\w+\s+set|union\s+(all\s+)?select|truncate\s+table|alter\s+table)\b"
    r"|;\s*--|'\s*or\s+'?\d+'?\s*=\s*'?\d+|\bor\s+1\s*=\s*1\b"
)
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
_WORDS = re.compile(r"[^\W\d_]{2,}")
_CLAUSE_WORDS = re.compile(
    r"(?i)^\s*(?:п\.|пункт[а-я]*|clause|item|тармақ[а-я]*|тармак)?\s*"
    r"(\d{1,2}(?:\.\d{1,2}){0,2})\.?\s*(?:-?\s*тармақ[а-я]*|-?\s*тармак|п\.)?\s*$"
)
_APPENDIX = re.compile(
    r"(?i)^\s*(?:appendix[\s-]*1|приложени[а-я]*\s*(?:№\s*)?1|1\s*-?\s*қосымша[а-я]*|"
    r"қосымша\s*1|1\s*-?\s*косымша[а-я]*)\s*$"
)


# "5.4.5" anywhere; "6.6" only next to a clause word, so "3.5 credits" is not clause 3.5.
_CLAUSE_IN_TEXT = re.compile(
    r"(?i)(?<![\d.,])(\d{1,2}\.\d{1,2}\.\d{1,2})(?![.,]?\d)"
    r"|(?:\bп\.|пункт\w*|clause|item|тармақ\w*|§)\s*(\d{1,2}\.\d{1,2})(?![.,]?\d)"
    r"|(?<![\d.,])(\d{1,2}\.\d{1,2})\s*-?\s*тармақ"
)
_APPENDIX_IN_TEXT = re.compile(
    r"(?i)appendix[\s-]*(?:no\.?\s*)?1\b|приложени[а-я]*\s*(?:№\s*)?1(?!\d)|"
    r"(?<!\d)1\s*-?\s*[қк]осымша"
)


def mentioned_clauses(text: str) -> list[str]:
    """Clause IDs written inside a sentence ("what does 6.6 say", "Приложение 1 — что это")."""
    found = [next(g for g in m.groups() if g) for m in _CLAUSE_IN_TEXT.finditer(text)]
    if _APPENDIX_IN_TEXT.search(text):
        found.append("appendix-1")
    return list(dict.fromkeys(found))


def clean_question(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = _INVISIBLE.sub("", text)
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(text.split())


def parse_clause_id(text: str) -> str | None:
    """"5.4.5", "п. 5.4.5", "5.4.5-тармақ", "clause 6.2", "Приложение 1" → a clause-ID shape."""
    if _APPENDIX.match(text or ""):
        return "appendix-1"
    match = _CLAUSE_WORDS.match(text or "")
    return match.group(1) if match else None


# --- programme questions ---------------------------------------------------------------------

_ONLINE = re.compile(r"(?i)онла[йи]н|online|onlain|onlayn")
_DISTANCE = re.compile(
    r"(?i)қашық|кашык|qashyq|дистан|distan|remote|from home|үйден|из дома|"
    r"(?<!\w)(?:до|қо|dl|дот)(?!\w)"
)
_SHARE = re.compile(
    r"(?i)%|процент|пайыз|percent|share|how many|how much|сколько|қанша|limit|лимит|дол[яию]|үлес|"
    r"half|половин|жартыс|max|макс|неше"
)
_EVENT = re.compile(
    r"(?i)фестивал|festival|жарыс|турнир|tournament|competition|соревнован|олимпиад|olympiad|"
    r"конкурс|contest|сбор|жиын|training camp|чемпионат|championship|байқау"
)
# Applicants: "поступить на …", "…-ға түсу", "enrol in …".
_ENROL = re.compile(r"(?i)поступ|(?<!\w)т[үу]с(?![іи]н)|enrol|admission|admit")
_STUDY = re.compile(
    r"(?i)учит|учёб|учеб|обуч|study|studi|learn|оқ[ыуи]|oqu|оку|можно|могу|бола ма|болад|"
    r"allowed|can i|may i|рұқсат|разреш|допуск|мамандық|мамандык|специальн|programme|program|"
    r"направлени|бағыт|degree|major|" + _ENROL.pattern.removeprefix("(?i)")
)


# --- the service -----------------------------------------------------------------------------


class AnswerService:
    """Answers questions with cited clauses; one per process, shared by bot and CLI."""

    def __init__(self, knowledge: Knowledge | None = None, i18n: I18n | None = None) -> None:
        self.knowledge = knowledge or load_knowledge()
        self.i18n = i18n or make_i18n()

    @property
    def regulation(self) -> Regulation:
        return self.knowledge.regulation

    # --- answering ---

    async def ask(self, question: str, lang: str) -> Answer:
        """``answer`` without blocking the event loop on long questions."""
        if len(question or "") > THREAD_ABOVE_CHARS:
            return await asyncio.to_thread(self.answer, question, lang)
        return self.answer(question, lang)

    def answer(self, question: str, lang: str) -> Answer:
        lang = lang if lang in LANGS else "kk"
        with use_locale(self.i18n, lang):
            return self._answer(question, lang)

    def _answer(self, raw: str, lang: str) -> Answer:
        question = clean_question(raw)
        bad = self._bad_input(question)
        if bad is not None:
            return Answer(AnswerKind.EMPTY, (), 0.0, bad, lang)
        chat = small_talk(question)
        if chat is not None:
            return Answer(AnswerKind.EMPTY, (), 0.0, self._small_talk_text(chat), lang)
        if _HTML_TAG.search(question):
            question = clean_question(html.unescape(_HTML_TAG.sub(" ", question)))
            if len(_WORDS.findall(question)) < 2:
                return Answer(AnswerKind.EMPTY, (), 0.0, self._code_text(), lang)
        clause_id = parse_clause_id(question)
        if clause_id is not None:
            if clause_id in self.regulation:
                return self._clause_answer(clause_id, lang, confidence=1.0, ranked=(clause_id,))
            return Answer(AnswerKind.EMPTY, (), 0.0, self.no_such_clause(clause_id), lang)

        result = self.knowledge.index.search(question, lang, k=8)
        programme = self._programme(question, lang, result)
        if programme is not None:
            return programme
        ranked = tuple(h.clause_id for h in result.hits)
        named = [cid for cid in mentioned_clauses(question) if cid in self.regulation]
        if named:
            ranked = tuple(dict.fromkeys([*named, *ranked]))
            confidence = max(result.confidence, PROGRAMME_CONFIDENCE)
            return self._clause_answer(named[0], lang, confidence, ranked)
        if result.confident:
            return self._clause_answer(ranked[0], lang, result.confidence, ranked)
        if not result.on_topic:
            # No clause matches fully, or most of the question is words the regulation never
            # uses (SearchResult.on_topic). The text cites nothing; the weak ranking is kept for
            # the log and the evaluation.
            return Answer(
                AnswerKind.OUT_OF_SCOPE, ranked, min(result.confidence, 0.2),
                self._out_of_scope_text(), lang,
            )
        return Answer(
            AnswerKind.UNSURE, ranked, result.confidence, self._unsure_text(ranked, lang), lang
        )

    def _bad_input(self, question: str) -> str | None:
        if not question:
            return _("Please type your question in words, for example: «Can I study law online?»")
        if len(question) > MAX_QUESTION_CHARS:
            return _(
                "Your message is too long ({count} characters). Please ask one short question "
                "at a time, in up to {limit} characters."
            ).format(count=len(question), limit=MAX_QUESTION_CHARS)
        if _SQL.search(question):
            return self._code_text()
        if not _LETTER.search(question):
            if _DIGIT.search(question) and parse_clause_id(question) is None:
                return _(
                    "«{text}» is only a number. To open a clause, send /rules with its number "
                    "(for example /rules 5.4.5); to check a programme, send its code (for "
                    "example 6B06102)."
                ).format(text=html.escape(question[:40]))
            if not _DIGIT.search(question):
                return _(
                    "I understand words, not emoji or symbols. Please type your question, for "
                    "example: «Who can study at a distance?»"
                )
        return None

    @staticmethod
    def _small_talk_text(kind: str) -> str:
        if kind == "greeting":
            return _(
                "Hello! Ask me about distance learning or the online form in your own words, "
                "for example: «Can I study law online?» The menu below has applications, the "
                "regulation and a person from the Helpdesk."
            )
        return _("You are welcome! Ask another question whenever you need.")

    def _code_text(self) -> str:
        return _(
            "This looks like code or markup, not a question. Please ask in plain words, for "
            "example: «Who can study at a distance?»"
        )

    def _programme(self, question: str, lang: str, result: SearchResult) -> Answer | None:
        from bot.services.programmes import render_verdict

        catalog = self.knowledge.catalog
        codes = find_programme_mentions(question)
        if codes:
            lookup = catalog.lookup(codes[0])
        else:
            online, distance = bool(_ONLINE.search(question)), bool(_DISTANCE.search(question))
            asks = bool(_SHARE.search(question) or _STUDY.search(question))
            if not (online or distance) or not asks:
                return None
            if _EVENT.search(question) and not _SHARE.search(question):
                # "a dancer going to a festival": the event (5.1.2, 5.2.x) is the question,
                # not the direction the word "dancer" names
                return None
            top = result.top
            # An applicant naming a programme ("поступить онлайн на геологию") is asking about
            # that programme even though the admission words make 6.1 score highest: a
            # programme clause among the first three is enough then.
            enrolling = bool(_ENROL.search(question))
            if top is None or not any(
                h.clause_id in PROGRAMME_CLAUSES
                and (h.score >= PROGRAMME_SCORE_RATIO * top.score or (enrolling and rank < 3))
                for rank, h in enumerate(result.hits)
            ):
                return None
            mentions = catalog.find_name_mentions(question)
            if not mentions:
                return None
            lookup = catalog.lookup(mentions[0].query)
            if not lookup.found:
                return None
        searched = [h.clause_id for h in result.hits]
        verdict = list(lookup.clauses) or list(ONLINE_CLAUSES)
        online_first = self._online_first(question, verdict, searched)
        online_part = [c for c in verdict if c in ONLINE_CLAUSES]
        cap_part = [c for c in verdict if c not in ONLINE_CLAUSES]
        ordered = (online_part + cap_part) if online_first else (cap_part + online_part)
        ranked = tuple(dict.fromkeys([*ordered, *searched]))
        if not lookup.found:
            confidence = PROGRAMME_NOT_FOUND_CONFIDENCE
        elif lookup.needs_clarification:
            confidence = PROGRAMME_UNCLEAR_CONFIDENCE
        else:
            confidence = max(PROGRAMME_CONFIDENCE, result.confidence)
        text = render_verdict(lookup, lang)
        if lookup.found:
            text += "\n\n" + self._quote_block(ranked[0], lang, limit=QUOTE_CHARS // 2)[0]
        return Answer(AnswerKind.PROGRAMME, ranked, confidence, text, lang)

    @staticmethod
    def _online_first(question: str, verdict: list[str], searched: list[str]) -> bool:
        online = bool(_ONLINE.search(question))
        distance = bool(_DISTANCE.search(question) or _SHARE.search(question))
        if online != distance:
            return online
        rank = {cid: i for i, cid in enumerate(searched)}
        best_online = min((rank.get(c, 99) for c in verdict if c in ONLINE_CLAUSES), default=99)
        best_cap = min((rank.get(c, 99) for c in verdict if c not in ONLINE_CLAUSES), default=99)
        return best_online <= best_cap

    # --- texts ---

    def cite(self, clause_id: str) -> str:
        """kk «5.4.5-тармақ», ru «п. 5.4.5», en «clause 5.4.5»; Appendix 1 by name."""
        if clause_id.startswith("appendix-"):
            return _("Appendix {number}").format(number=clause_id.split("-", 1)[1])
        return _("clause {id}").format(id=clause_id)

    def source_line(self, clause_id: str) -> str:
        return _("📖 Regulation No. 066, {citation}").format(citation=self.cite(clause_id))

    def full_text(self, clause: Clause, lang: str, *, items: bool = True) -> str:
        """The clause's text; with ``items``, a clause's numbered items follow it ("5.4").

        A numbered item is led by its parent's short opening ("The University provides:"), so
        "5.1.1" reads as a sentence and not as a fragment.
        """
        own = clause.text_in(lang).strip()
        parts: list[str] = []
        parent = self.regulation.get(clause.parent) if clause.parent else None
        if parent is not None:
            lead = parent.text_in(lang).strip()
            if lead != parent.id and len(lead) <= LEAD_CHARS:
                parts.append(lead)
            own = f"{clause.id.rsplit('.', 1)[-1]}) {own}"
        if own != clause.id:
            parts.append(own)
        for child in self.regulation.children(clause.id) if items else ():
            number = child.id.rsplit(".", 1)[-1]
            parts.append(f"{number}) {child.text_in(lang).strip()}")
        return "\n".join(parts)

    @staticmethod
    def trim(text: str, limit: int) -> tuple[str, bool]:
        if len(text) <= limit:
            return text, False
        cut = text[:limit]
        space = max(cut.rfind(" "), cut.rfind("\n"))
        if space > limit // 2:
            cut = cut[:space]
        return cut.rstrip(" ,;:") + " …", True

    def _quote_block(
        self, clause_id: str, lang: str, *, limit: int, items: bool = True
    ) -> tuple[str, bool]:
        clause = self.regulation.get(clause_id)
        if clause is None:
            return "", False
        body, trimmed = self.trim(self.full_text(clause, lang, items=items), limit)
        lines = [f"<blockquote>{html.escape(body)}</blockquote>"] if body else []
        lines += self._under_quote(clause_id, lang, quoted=bool(body))
        return "\n".join(lines), trimmed

    def _under_quote(self, clause_id: str, lang: str, *, quoted: bool = True) -> list[str]:
        """The translation note (ru/en) and the citation line under a quote."""
        lines = []
        if lang != "kk" and quoted:
            lines.append(
                "<i>" + _("Unofficial translation; the Kazakh text is authoritative.") + "</i>"
            )
        lines.append(self.source_line(clause_id))
        return lines

    def clause_card(
        self, clause_id: str, lang: str, *, limit: int = FULL_CHARS, items: bool = True
    ) -> str:
        """Title, quoted text and citation of one clause (the /rules view and «Full clause»);
        ``items=False`` leaves out the numbered items (the browser shows them as buttons)."""
        with use_locale(self.i18n, lang):
            clause = self.regulation.get(clause_id)
            if clause is None:
                return self.no_such_clause(clause_id)
            block, _trimmed = self._quote_block(clause_id, lang, limit=limit, items=items)
            return f"<b>{html.escape(clause.title_in(lang))}</b>\n{block}"

    def full_clause_parts(self, clause_id: str, lang: str) -> list[str]:
        """The whole clause as one or more messages (only 5.4 with its 16 items needs two)."""
        clause = self.regulation.get(clause_id)
        if clause is None or len(self.full_text(clause, lang)) <= FULL_CHARS:
            return [self.clause_card(clause_id, lang)]
        chunks: list[str] = [""]
        for line in self.full_text(clause, lang).split("\n"):
            while len(line) > FULL_CHARS:  # no clause has such a line; never cut mid-word
                head, _cut = self.trim(line, FULL_CHARS)
                chunks.append(head.removesuffix(" …"))
                line = line[len(chunks[-1]) :].lstrip()
            if len(chunks[-1]) + len(line) + 1 > FULL_CHARS:
                chunks.append("")
            chunks[-1] = f"{chunks[-1]}\n{line}" if chunks[-1] else line
        parts = [f"<blockquote>{html.escape(c)}</blockquote>" for c in chunks if c]
        with use_locale(self.i18n, lang):
            parts[0] = f"<b>{html.escape(clause.title_in(lang))}</b>\n{parts[0]}"
            parts[-1] += "\n" + "\n".join(self._under_quote(clause_id, lang))
        return parts

    def _clause_answer(
        self, clause_id: str, lang: str, confidence: float, ranked: tuple[str, ...]
    ) -> Answer:
        clause = self.regulation.get(clause_id)
        assert clause is not None
        block, trimmed = self._quote_block(clause_id, lang, limit=QUOTE_CHARS)
        lines = [f"💡 <b>{html.escape(clause.title_in(lang))}</b>", block]
        if trimmed:
            lines.append(_("The quote is shortened; press «📄 Full clause» for the whole text."))
        return Answer(AnswerKind.ANSWER, ranked, confidence, "\n".join(lines), lang)

    def _unsure_text(self, ranked: tuple[str, ...], lang: str) -> str:
        lines = [
            _("🤔 I am not sure I understood your question. These clauses of the regulation "
              "come closest:")
        ]
        for cid in ranked[:SUGGESTIONS]:
            clause = self.regulation.get(cid)
            if clause is not None:
                title = html.escape(clause.title_in(lang))
                lines.append(f"• <b>{html.escape(self.cite(cid))}</b> — {title}")
        lines.append(
            _("Open one of them below, rephrase your question, or ask a person from the helpdesk.")
        )
        return "\n".join(lines)

    def _out_of_scope_text(self) -> str:
        return _(
            "Regulation No. 066 does not cover this. I answer questions about distance learning "
            "and the online form of study at the university. Send /rules to browse the "
            "regulation, or ask a person from the helpdesk."
        )

    # --- clause IDs for /rules ---

    def no_such_clause(self, clause_id: str, nearest: list[str] | None = None) -> str:
        if nearest is None:
            nearest = self.nearest_ids(clause_id)
        text = _("There is no clause «{id}» in Regulation No. 066.").format(
            id=html.escape(clause_id[:40])
        )
        if nearest:
            text += " " + _("The nearest ones: {ids}.").format(
                ids=", ".join(self.cite(cid) for cid in nearest)
            )
        return text

    def nearest_ids(self, text: str, k: int = 3) -> list[str]:
        """Valid clause IDs closest to a wrong one ("9.9" → 6.9, 3.9 …; "5.4.20" → 5.4 …)."""
        ids = list(self.regulation.clauses)
        wanted = parse_clause_id(text) or clean_question(text)[:40]
        if not wanted:
            return []
        if not re.fullmatch(r"[\d.]+", wanted):
            result = self.knowledge.index.search(wanted, None, k=k)
            if result.on_topic:
                return [h.clause_id for h in result.hits[:k]]
            return []
        out: list[str] = []
        parts = wanted.strip(".").split(".")
        for n in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:n])
            if prefix in self.regulation:
                out.append(prefix)
                break
        order = {cid: i for i, cid in enumerate(ids)}
        scored = sorted(ids, key=lambda cid: (-fuzz.ratio(wanted, cid), order[cid]))
        for cid in scored:
            if cid not in out and not cid.startswith("appendix"):
                out.append(cid)
            if len(out) >= k:
                break
        return out

    def related(self, clause_id: str, limit: int = 10) -> list[Clause]:
        """Parent, children and neighbouring siblings of a clause, in document order."""
        reg = self.regulation
        clause = reg.get(clause_id)
        if clause is None:
            return []
        found: set[str] = set()
        if clause.parent:
            found.add(clause.parent)
        found.update(c.id for c in reg.children(clause_id))
        siblings = [
            c.id for c in reg.in_section(clause.section) if c.parent == clause.parent
        ]
        if clause_id in siblings:
            i = siblings.index(clause_id)
            found.update(siblings[max(0, i - 2) : i + 3])
        found.discard(clause_id)
        ordered = [c for c in reg if c.id in found]
        return ordered[:limit]
