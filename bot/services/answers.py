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
import gc
import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from bot.config import LANGUAGES
from bot.texts import Catalogs, use_locale
from bot.texts import gettext as _

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n
from knowledge.faq import ClauseExample, FaqEntry, faq_documents, load_faq_files
from knowledge.intents import Intent, detect_intent
from knowledge.programmes import LookupResult, ProgrammeCatalog, find_programme_mentions
from knowledge.qmatch import (
    EXPLAIN_KINDS,
    REGULATION_KINDS,
    Document,
    MatchResult,
    NgramIndex,
    regulation_documents,
)
from knowledge.ranking import Calibration, Ranked, Ranker
from knowledge.regulation import Clause, Regulation, load_regulation
from knowledge.search import KnowledgeIndex, SearchResult

LANGS = LANGUAGES
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
PROGRAMME_NAMED_SCORE = 95.0  # a direction name found as written (or with a case ending)
PROGRAMME_SHORT_WORDS = 8
GROUND_CLAUSES: dict[str, tuple[str, ...]] = {
    "disability": ("5.1.1",),
    "competition": ("5.2.2", "5.1.2", "5.2.1"),
    "health": ("5.4.1", "5.4.2"),
    "mobility": ("5.4.13",),
    "double_degree": ("5.4.14",),
}
# A recognised question type is answered from its template unless the question is closer to a
# known not-covered question than to any clause by more than this (n-gram cosine).
INTENT_NC_LEAD = 0.05
INTENT_CONFIDENCE = 0.9


# Whole messages that are a greeting or a thank-you, not a question (lower case, no punctuation).
GREETINGS = frozenset(
    {
        "привет",
        "здравствуйте",
        "здравствуй",
        "добрый день",
        "добрый вечер",
        "доброе утро",
        "сәлем",
        "салем",
        "сәлеметсіз бе",
        "салеметсиз бе",
        "сәлеметсіздер ме",
        "қайырлы күн",
        "қайырлы таң",
        "hi",
        "hello",
        "hey",
        "good morning",
        "good afternoon",
        "good evening",
    }
)
THANKS = frozenset(
    {
        "спасибо",
        "спасибо большое",
        "большое спасибо",
        "благодарю",
        "рахмет",
        "рақмет",
        "көп рахмет",
        "көп рақмет",
        "үлкен рахмет",
        "thanks",
        "thank you",
        "thank you very much",
        "thanks a lot",
        "thx",
    }
)


def small_talk(question: str) -> str | None:
    """ "greeting" or "thanks" when the whole message is one, else None."""
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
    FAQ = "faq"  # issue 12: an answer from the university FAQ (bot.services.faq), no clause
    OFFICE = "office"  # issue 12: not covered; the office that handles it (bot.services.faq)


LOW_CONFIDENCE_KINDS = frozenset({AnswerKind.UNSURE, AnswerKind.OUT_OF_SCOPE})


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    clauses: tuple[str, ...]  # ranked clause IDs, best first (out of scope: none is cited)
    confidence: float  # 0..1
    text: str  # HTML, in ``lang``
    lang: str
    # what the answer offers to start: "apply:<ground>" (a distance-learning application with
    # that ground chosen, "apply:" for none), "apply:online" (online-form enrollment)
    action: str | None = None
    intent: str | None = None  # the question type recognised (apply, eligibility, …), if any
    # what the question matcher found (every kind: clauses, FAQ entries, taught questions),
    # when the answer came from the ranking; the FAQ hook reads its entries from here
    matches: MatchResult | None = field(default=None, compare=False, repr=False)

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
    ranker: Ranker
    calibration: Calibration
    # the regulation's documents of the question matcher (clauses, not-covered topics), kept to
    # build it again with other FAQ entries
    documents: tuple[Document, ...] = ()
    cache_dir: Path | None = None


def build_matcher(
    documents: Iterable[Document],
    entries: Iterable[FaqEntry],
    examples: Iterable[ClauseExample] = (),
    *,
    cache_dir: Path | None = None,
) -> NgramIndex:
    """One question matcher over the regulation's documents, the FAQ entries and the questions
    staff taught clauses (``NgramIndex.cached``: read from ``cache_dir`` when these documents
    were indexed before). The regulation's documents alone weigh the n-grams, so FAQ entries
    never move a clause's scores."""
    return NgramIndex.cached(
        [*documents, *faq_documents(entries, examples)],
        cache_dir,
        background=REGULATION_KINDS,
        explain=EXPLAIN_KINDS,
    )


@lru_cache(maxsize=2)
def load_knowledge(cache_dir: Path | None = None) -> Knowledge:
    """Regulation, programme catalog, search index, question matcher (with the FAQ files'
    entries) and calibration; built once, shared by every service. ``cache_dir``: where the
    question matcher is cached on disk (``SEARCH_CACHE_DIR``; None: built in memory)."""
    regulation = load_regulation()
    catalog = ProgrammeCatalog.load()
    index = KnowledgeIndex.build(regulation, catalog)
    documents = tuple(regulation_documents(regulation))
    matcher = build_matcher(documents, load_faq_files(), cache_dir=cache_dir)
    knowledge = Knowledge(
        regulation,
        catalog,
        index,
        Ranker(index, matcher),
        Calibration.load(),
        documents,
        cache_dir,
    )
    # The indexes are a few hundred thousand long-lived objects that never change: moved out of
    # the collector's generations, a full collection no longer walks them (it cost 10–60 ms
    # pauses in the middle of a search).
    gc.collect()
    gc.freeze()
    return knowledge


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
    if not _DIGIT.search(text):
        return []  # both patterns need a digit (issue 18.1: most questions have none)
    found = [next(g for g in m.groups() if g) for m in _CLAUSE_IN_TEXT.finditer(text)]
    if _APPENDIX_IN_TEXT.search(text):
        found.append("appendix-1")
    return list(dict.fromkeys(found))


def clean_question(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = _INVISIBLE.sub("", text)
    if not text.isprintable():  # most questions are (issue 18: no generator over every letter)
        text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(text.split())


def parse_clause_id(text: str) -> str | None:
    """ "5.4.5", "п. 5.4.5", "5.4.5-тармақ", "clause 6.2", "Приложение 1" → a clause-ID shape."""
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
    r"half|половин|жартыс|max|макс|неше|"
    r"qansha|kansha|skolk|neshe|protsent|procent|paiyz|pajyz"  # typed in Latin
)
_EVENT = re.compile(
    r"(?i)фестивал|festival|жарыс|турнир|tournament|competition|соревнован|олимпиад|olympiad|"
    r"конкурс|contest|сбор|жиын|training camp|чемпионат|championship|байқау"
)
_WHO = re.compile(r"(?i)\b(who|whom|кто|кому|кім|кімге|ким|кимге)\b")
# Applicants: "поступить на …", "…-ға түсу", "enrol in …".
_ENROL = re.compile(r"(?i)поступ|(?<!\w)т[үу]с(?![іи]н)|enrol|admission|admit")
_STUDY = re.compile(
    r"(?i)учит|учёб|учеб|обуч|study|studi|learn|оқ[ыуи]|oqu|оку|можно|могу|бола ма|болад|"
    r"allowed|can i|may i|рұқсат|разреш|допуск|мамандық|мамандык|специальн|programme|program|"
    r"бар ма|есть ли|available|offer|"
    r"bola|mozhn|oqy|uchit|obuch|mamandy|bar ma|"  # typed in Latin
    r"направлени|бағыт|degree|major|" + _ENROL.pattern.removeprefix("(?i)")
)


# --- the service -----------------------------------------------------------------------------


class AnswerService:
    """Answers questions with cited clauses; one per process, shared by bot and CLI."""

    def __init__(
        self,
        knowledge: Knowledge | None = None,
        i18n: I18n | Catalogs | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        """``i18n``: aiogram's ``I18n`` (the bot) or ``bot.texts.Catalogs`` (the CLI, without
        importing aiogram)."""
        self.knowledge = knowledge or load_knowledge(cache_dir)
        if i18n is None:
            from bot.i18n import make_i18n

            i18n = make_i18n()
        self.i18n = i18n

    @property
    def regulation(self) -> Regulation:
        return self.knowledge.regulation

    # --- answering ---

    async def ask(self, question: str, lang: str, *, matcher: NgramIndex | None = None) -> Answer:
        """``answer`` without blocking the event loop on long questions."""
        if len(question or "") > THREAD_ABOVE_CHARS:
            return await asyncio.to_thread(self.answer, question, lang, matcher=matcher)
        return self.answer(question, lang, matcher=matcher)

    def answer(self, question: str, lang: str, *, matcher: NgramIndex | None = None) -> Answer:
        """``matcher``: the question matcher to rank with (the FAQ's, with the entries staff
        added; default the one built with the FAQ files)."""
        lang = lang if lang in LANGS else "kk"
        with use_locale(self.i18n, lang):
            return self._answer(question, lang, matcher)

    def _answer(self, raw: str, lang: str, matcher: NgramIndex | None = None) -> Answer:
        routed = self._route(raw, lang, matcher)
        if isinstance(routed, Answer):
            return routed
        return self._decide(*routed, lang)

    def route(
        self, question: str, lang: str, *, matcher: NgramIndex | None = None
    ) -> Answer | tuple[Ranked, Intent | None]:
        """An answer decided by the rules (bad input, clause ID, programme, question type), or
        the ranking that the calibration decides on (``bench/fit_calibration.py`` fits it on
        exactly these)."""
        lang = lang if lang in LANGS else "kk"
        with use_locale(self.i18n, lang):
            return self._route(question, lang, matcher)

    def matcher_with(
        self, entries: Iterable[FaqEntry], examples: Iterable[ClauseExample] = ()
    ) -> NgramIndex:
        """The question matcher over the regulation and these FAQ entries and taught
        questions (cached on disk like the first)."""
        return build_matcher(
            self.knowledge.documents, entries, examples, cache_dir=self.knowledge.cache_dir
        )

    def _route(
        self, raw: str, lang: str, matcher: NgramIndex | None = None
    ) -> Answer | tuple[Ranked, Intent | None]:
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

        ranked_result = self.knowledge.ranker.rank(question, lang, matcher=matcher)
        result = ranked_result.search
        programme = self._programme(question, lang, result)
        if programme is not None:
            return programme
        ranked = ranked_result.clauses
        named = [cid for cid in mentioned_clauses(question) if cid in self.regulation]
        if named:
            ranked = tuple(dict.fromkeys([*named, *ranked]))
            confidence = max(result.confidence, PROGRAMME_CONFIDENCE)
            return self._clause_answer(named[0], lang, confidence, ranked)
        intent = detect_intent(question)
        if intent is not None and ranked_result.features["nc_lead"] <= INTENT_NC_LEAD:
            templated = self._intent_answer(intent, lang, ranked)
            if templated is not None:
                return templated
        return ranked_result, intent

    def _decide(self, ranked: Ranked, intent: Intent | None, lang: str) -> Answer:
        """Confident / unsure / not covered, by the calibrated probabilities."""
        calibration = self.knowledge.calibration
        clauses = ranked.clauses
        matches = ranked.matches
        if not clauses:
            return Answer(
                AnswerKind.OUT_OF_SCOPE,
                (),
                0.0,
                self._out_of_scope_text(intent),
                lang,
                matches=matches,
            )
        p_right = calibration.p_right(ranked.features)
        if p_right >= calibration.confident:
            # the matches given to the answer as it is made (issue 18: dataclasses.replace
            # afterwards built the same answer a second time)
            return self._clause_answer(
                clauses[0], lang, round(p_right, 4), clauses, matches=matches
            )
        if calibration.p_in_scope(ranked.features) < calibration.covered:
            # The text cites nothing; the weak ranking is kept for the log and the evaluation.
            return Answer(
                AnswerKind.OUT_OF_SCOPE,
                clauses,
                round(min(p_right, 0.2), 4),
                self._out_of_scope_text(intent),
                lang,
                matches=matches,
            )
        return Answer(
            AnswerKind.UNSURE,
            clauses,
            round(p_right, 4),
            self._unsure_text(clauses, lang),
            lang,
            matches=matches,
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
        catalog = self.knowledge.catalog
        codes = find_programme_mentions(question)
        if codes:
            lookup = catalog.lookup(codes[0])
        elif (teacher := self._teacher_training(question, lang, result)) is not None:
            return teacher
        else:
            # the online or distance words first: without them the longer patterns of what the
            # question asks need not run (issue 18.1)
            if not (_ONLINE.search(question) or _DISTANCE.search(question)):
                return None
            if not (_SHARE.search(question) or _STUDY.search(question)):
                return None
            if _EVENT.search(question) and not _SHARE.search(question):
                # "a dancer going to a festival": the event (5.1.2, 5.2.x) is the question,
                # not the direction the word "dancer" names
                return None
            mentions = catalog.find_name_mentions(question)
            if not mentions:
                return None
            top = result.top
            # An applicant naming a programme ("поступить онлайн на геологию") is asking about
            # that programme even though the admission words make 6.1 score highest: a
            # programme clause among the first three is enough then. So is a short question
            # that names a direction exactly ("is tourism available online?").
            enrolling = bool(_ENROL.search(question))
            short_and_named = (
                mentions[0].score >= PROGRAMME_NAMED_SCORE
                and len(_WORDS.findall(question)) <= PROGRAMME_SHORT_WORDS
                and not _WHO.search(question)  # "who ensures information security online"
            )
            if top is None or not (
                short_and_named
                or any(
                    h.clause_id in PROGRAMME_CLAUSES
                    and (h.score >= PROGRAMME_SCORE_RATIO * top.score or (enrolling and rank < 3))
                    for rank, h in enumerate(result.hits)
                )
            ):
                return None
            lookup = catalog.lookup(mentions[0].query)
            if not lookup.found:
                return None
        return self._programme_answer(question, lang, result, lookup)

    def _teacher_training(self, question: str, lang: str, result: SearchResult) -> Answer | None:
        """ "учитель математики онлайн?", "informatika pedagogi online": a teacher-training
        direction named by a teacher word and a subject, in a question about studying online
        or at a distance."""
        code = self.knowledge.catalog.teacher_training_code(question)
        if code is None:
            return None
        online, distance = bool(_ONLINE.search(question)), bool(_DISTANCE.search(question))
        if not (online or distance or _SHARE.search(question)):
            return None
        lookup = self.knowledge.catalog.lookup(code)
        if not lookup.found:
            return None
        return self._programme_answer(question, lang, result, lookup)

    def _programme_answer(
        self, question: str, lang: str, result: SearchResult, lookup: LookupResult
    ) -> Answer:
        from bot.services.programmes import render_verdict

        searched = [h.clause_id for h in result.hits]
        # the first candidate's clauses first: a bare subject ("computer science") is first of
        # all its own direction; the teacher training offered beside it comes after
        first = list(lookup.candidates[0].verdict.clauses) if lookup.candidates else []
        verdict = list(dict.fromkeys([*first, *lookup.clauses])) or list(ONLINE_CLAUSES)
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
        if lookup.found and ranked[0] in ONLINE_CLAUSES and lookup.online_allowed:
            # 6.2 lists where online learning is *not* allowed: quoting it under "allowed"
            # reads as a refusal. Say what the online form is instead.
            text += "\n\n" + _(
                "The online form is a form of study you enrol in for the whole programme "
                "({c61}); distance learning is a transfer of part of the disciplines of any form "
                "for a period, on a ground ({c51}), within the cap above."
            ).format(c61=self.cite("6.1"), c51=self.cite("5.1"))
        elif lookup.found:
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
        self,
        clause_id: str,
        lang: str,
        confidence: float,
        ranked: tuple[str, ...],
        *,
        matches: MatchResult | None = None,
    ) -> Answer:
        clause = self.regulation.get(clause_id)
        assert clause is not None
        block, trimmed = self._quote_block(clause_id, lang, limit=QUOTE_CHARS)
        lines = [f"💡 <b>{html.escape(clause.title_in(lang))}</b>", block]
        if trimmed:
            lines.append(_("The quote is shortened; press «📄 Full clause» for the whole text."))
        return Answer(
            AnswerKind.ANSWER, ranked, confidence, "\n".join(lines), lang, matches=matches
        )

    def _unsure_text(self, ranked: tuple[str, ...], lang: str) -> str:
        lines = [
            _(
                "🤔 I am not sure I understood your question. These clauses of the regulation "
                "come closest:"
            )
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

    def _out_of_scope_text(self, intent: Intent | None = None) -> str:
        text = _(
            "Regulation No. 066 does not cover this. I answer questions about distance learning "
            "and the online form of study at the university. Send /rules to browse the "
            "regulation, or ask a person from the helpdesk."
        )
        if intent is not None and intent.dates:
            text += "\n" + _(
                "Dates and deadlines are set in the academic calendar, not in the regulation: "
                "/reminders sends you the calendar's deadlines."
            )
        return text

    # --- question types (intents) ---

    def _intent_answer(
        self, intent: Intent, lang: str, searched: tuple[str, ...]
    ) -> Answer | None:
        """The template answer of a recognised question type, with its clauses first."""
        if intent.name == "difference":
            order: tuple[str, ...] = (
                ("3.8", "3.1", "6.2", "5.4.7") if intent.online else ("3.1", "3.8", "6.2", "5.4.7")
            )
            body = self._difference_text()
            action = None
        elif intent.name == "work":
            order = (
                ("6.17", "5.1", "6.1")
                if intent.switching and not intent.applicant
                else ("6.1", "3.8", "6.2", "5.1", "6.17")
            )
            body = self._work_text()
            action = "apply:online"
        elif intent.name in ("apply", "eligibility"):
            ground = intent.ground
            if ground is not None:
                order = (*GROUND_CLAUSES[ground], "5.1", "5.2.2", "5.4.1")
            elif intent.name == "apply":
                order = ("5.2.2", "5.1", "5.1.1", "5.1.2", "5.4.1")
            else:
                order = ("5.1", "5.1.1", "5.1.2", "5.4.1", "5.2.2")
            body = (
                self._apply_text(ground) if intent.name == "apply" else self._grounds_text(ground)
            )
            action = f"apply:{ground or ''}"
        else:
            return None
        ranked = tuple(dict.fromkeys([*order, *searched]))
        quote, _trimmed = self._quote_block(ranked[0], lang, limit=QUOTE_CHARS // 2)
        text = f"{body}\n\n{quote}"
        return Answer(
            AnswerKind.ANSWER,
            ranked,
            INTENT_CONFIDENCE,
            text,
            lang,
            action=action,
            intent=intent.name,
        )

    def _grounds_list(self) -> str:
        return "\n".join(
            [
                _(
                    "• a child with disabilities, on the recommendation of the "
                    "psychological-medical-pedagogical consultation (PMPC) ({cite});"
                ).format(cite=self.cite("5.1.1")),
                _(
                    "• a participant of international or national training camps, sports "
                    "competitions, intellectual and creative contests and festivals ({cite});"
                ).format(cite=self.cite("5.1.2")),
                _(
                    "• a student with a conclusion of the medical advisory commission (VKK) on "
                    "their health ({cite}); with temporary health limits the university decides "
                    "how your classes run ({cite2});"
                ).format(cite=self.cite("5.4.1"), cite2=self.cite("5.4.2")),
                _(
                    "• academic mobility (up to 20 % of credits, {cite}), double-degree and "
                    "exchange programmes (up to 50 %, {cite2})."
                ).format(cite=self.cite("5.4.13"), cite2=self.cite("5.4.14")),
            ]
        )

    def _grounds_text(self, ground: str | None) -> str:
        lines = [
            _("🎓 <b>Who may study at a distance</b>"),
            _("Distance learning is given on the grounds the regulation lists ({cite}):").format(
                cite=self.cite("5.1")
            ),
            self._grounds_list(),
            _(
                "If none of them fits (for example, you work), the online form of study may: it "
                "is a form you enrol in ({cite})."
            ).format(cite=self.cite("6.1")),
            _("To apply, press the button below."),
        ]
        return "\n".join(lines)

    def _apply_text(self, ground: str | None) -> str:
        lines = [_("📝 <b>How to apply for distance learning</b>")]
        if ground == "health":
            lines.append(
                _(
                    "On health grounds you need the conclusion of the medical advisory commission "
                    "(VKK) in the approved form ({cite})."
                ).format(cite=self.cite("5.4.1"))
            )
        elif ground == "disability":
            lines.append(
                _(
                    "For a child with disabilities you need the recommendation of the "
                    "psychological-medical-pedagogical consultation ({cite})."
                ).format(cite=self.cite("5.1.1"))
            )
        elif ground == "competition":
            lines.append(
                _(
                    "Participants of camps, competitions, contests and festivals apply in free "
                    "form to the head of the university ({cite})."
                ).format(cite=self.cite("5.2.2"))
            )
        lines += [
            _(
                "A transfer rests on the document of its ground. For camps, competitions, "
                "contests and festivals the student, a parent or another legal representative "
                "writes an application in free form to the head of the university ({cite}). The "
                "grounds:"
            ).format(cite=self.cite("5.2.2")),
            self._grounds_list(),
            _(
                "Press the button below to fill it in here: the bot prepares the statement and "
                "sends it to the university's staff."
            ),
        ]
        return "\n".join(lines)

    def _difference_text(self) -> str:
        return "\n".join(
            [
                _("🔀 <b>The online form and distance learning are different things</b>"),
                _(
                    "• <b>The online form</b> is a form of study, like full-time study: you are "
                    "admitted to it ({c61}) and study the whole programme through the "
                    "university's portal, with at least 20 % of every discipline live ({c66}) "
                    "and at least 10 % of credits through MOOCs ({c694}). It is not allowed for "
                    "the directions of Appendix 1 ({c62}). Definition: {c38}."
                ).format(
                    c61=self.cite("6.1"),
                    c66=self.cite("6.6"),
                    c694=self.cite("6.9.4"),
                    c62=self.cite("6.2"),
                    c38=self.cite("3.8"),
                ),
                _(
                    "• <b>Distance learning</b> is remote teaching ({c31}) that a student of any "
                    "form gets for a period on a ground (disability, competitions, health: {c51}, "
                    "{c541}), for at most 20 % or 50 % of the disciplines depending on the "
                    "programme and not at all in teacher training ({c545}–{c547})."
                ).format(
                    c31=self.cite("3.1"),
                    c51=self.cite("5.1"),
                    c541=self.cite("5.4.1"),
                    c545=self.cite("5.4.5"),
                    c547=self.cite("5.4.7"),
                ),
                _("Neither is correspondence (extramural) study."),
            ]
        )

    def _work_text(self) -> str:
        return "\n".join(
            [
                _("💼 <b>Studying while working</b>"),
                _(
                    "Work is not one of the grounds for a transfer to distance learning (they are "
                    "disability, competitions and health: {c51}, {c541})."
                ).format(c51=self.cite("5.1"), c541=self.cite("5.4.1")),
                _(
                    "For studying while working the university has the <b>online form</b>: "
                    "admission by the standard rules ({c61}), for every direction except those of "
                    "Appendix 1 ({c62}). A student of another form moves to the online form only "
                    "during the vacations and on a paid basis ({c617})."
                ).format(c61=self.cite("6.1"), c62=self.cite("6.2"), c617=self.cite("6.17")),
            ]
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
        siblings = [c.id for c in reg.in_section(clause.section) if c.parent == clause.parent]
        if clause_id in siblings:
            i = siblings.index(clause_id)
            found.update(siblings[max(0, i - 2) : i + 3])
        found.discard(clause_id)
        ordered = [c for c in reg if c.id in found]
        return ordered[:limit]
