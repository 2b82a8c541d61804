"""The university FAQ and the offices directory behind the question path (issue 12).

The interface the answer path uses:

* ``await FaqService.ask(question, lang, session=...) -> Answer``: what the bot's question
  handler answers. It checks the FAQ's version, ranks the question with the snapshot's question
  matcher (one index: the clauses, the FAQ entries, the questions staff taught clauses), and
  hands the answer to the hook;
* ``FaqService.consult(question, lang, answer) -> Answer``: the hook. It leaves a confident
  clause alone (a regulation clause wins when the question is about the regulation), and turns
  an ``unsure`` or ``out_of_scope`` answer into, in order: the clause staff taught for this
  question ("answered by clause X"), an FAQ answer (``AnswerKind.FAQ``, cited «FAQ · <office>»,
  never as a clause), or for ``out_of_scope`` the office that handles it (``AnswerKind.OFFICE``:
  "Regulation No. 066 does not cover this; <office> handles it"). It reads the FAQ entries the
  ranking's search already found (``Answer.matches``) and searches only when the answer did not
  come from this snapshot's matcher;
* ``FaqService.match(question, lang)`` and ``route_office(question, lang)``: the entry a
  question asks and the office it names.

``AnswerKind.FAQ`` / ``OFFICE`` answers carry the search's ranking in ``clauses`` (for the log
and the evaluation) but cite none of it (``primary`` is None).

Data: the YAML files (``knowledge/faq/*.yaml``, ``knowledge/data/offices.yaml``) and the
database (staff-made and imported entries, the admins' office overlay, taught clause examples).
Each process holds one immutable snapshot (matcher, router, offices) and, before answering,
compares the FAQ's version with the version it loaded. Every change bumps the
``faq_versions`` row in its own transaction, and the commit makes every process forget the
version it knew (:mod:`bot.hotcache`: at once in this process, through Redis in the others,
after the cache's ttl for a CLI writer without Redis); a version not forgotten is not read
again (issue 18: no ``faq_versions`` read, in a transaction of its own on PostgreSQL, before
each unsure answer). So a new entry is live in every process at the next question.
The new matcher is built in a worker thread, or read from the disk cache when another process
already built it for the same entries (``SEARCH_CACHE_DIR``).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import hotcache
from bot.config import LANGUAGES as LANGS
from bot.config import Settings
from bot.db.base import utcnow
from bot.db.models.faq import ClauseExampleRow, FaqEntryRow, FaqVersion, OfficeOverride
from bot.services.answers import (
    Answer,
    AnswerKind,
    AnswerService,
    build_matcher,
    load_knowledge,
)
from bot.texts import Catalogs, use_locale
from bot.texts import gettext as _
from knowledge.faq import (
    FAQ_KIND,
    TAUGHT_KIND,
    Analyzer,
    ClauseExample,
    FaqDataError,
    FaqEntry,
    FaqMatch,
    Office,
    OfficeRouter,
    load_faq_files,
    load_offices,
    load_offices_data,
    merge_office,
)
from knowledge.qmatch import MatchResult, NgramIndex, content_prefixes

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

log = logging.getLogger(__name__)

VERSION_NAME = "faq"
# Cosine (character n-grams) of an FAQ entry's closest question variant, needed to answer with
# it. Chosen on bench/data/faq_dev.jsonl and the out-of-scope rows of the dev sets. An "unsure"
# answer is on the regulation's topic: it yields only to a clearer match.
MATCH_OUT_OF_SCOPE = 0.42
MATCH_UNSURE = 0.5
MATCH_OVER_CONFIDENT = 0.6  # only with answer_over_confident (off by default, see resolve)
# ... and the share of the question's content words (first letters; not the generic ones, see
# GENERIC_SHARE) the entry's variants have: a look-alike sharing only a frame ("во сколько
# открывается …") or a generic word ("university") explains less. Chosen on the dev sets.
MATCH_EXPLAINED = 0.5
GENERIC_SHARE = 0.1  # a word in this share of the entries (and at least 5) is generic
GENERIC_MIN_ENTRIES = 5
TAUGHT_CLAUSE = 0.6  # a question this close to one staff marked "answered by clause X"
EDITABLE_OFFICE_FIELDS: tuple[str, ...] = (
    "name.kk",
    "name.ru",
    "name.en",
    "contacts.phone",
    "contacts.email",
    "contacts.telegram",
    "contacts.website",
    "hours.kk",
    "hours.ru",
    "hours.en",
    "location.kk",
    "location.ru",
    "location.en",
    "keywords",
)
MAX_FIELD_CHARS = 300


@dataclass(frozen=True, slots=True)
class FaqAnswer(Answer):
    """An answer from the FAQ (``kind`` FAQ) or an office routing (``kind`` OFFICE)."""

    entry_key: str | None = None
    office_id: str | None = None
    served_lang: str | None = None  # the language the entry's text is in (None: routing)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one version of the FAQ data gives; replaced whole, never mutated."""

    version: int
    entries: dict[str, FaqEntry]
    offices: dict[str, Office]
    matcher: NgramIndex  # the clauses, these entries and the taught questions: one index
    router: OfficeRouter
    examples: tuple[ClauseExample, ...] = ()
    # word prefixes in many entries' variants ("univ", "stud"): they explain nothing
    generic: frozenset[str] = frozenset()
    # per word prefix: how many entries use it (the rarest word of a question must be explained)
    word_df: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    # per entry matched so far: its variants' word prefixes (bounded by the entries)
    _entry_prefixes: dict[str, frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def search(self, question: str, matches: MatchResult | None = None) -> MatchResult:
        """The matcher's result for ``question``: ``matches`` when this matcher made it."""
        if matches is not None and matches.index is self.matcher:
            return matches
        return self.matcher.search(question, k=12)

    def match(
        self,
        question: str,
        lang: str | None = None,
        k: int = 3,
        matches: MatchResult | None = None,
    ) -> list[FaqMatch]:
        """The best ``k`` entries, best first, by their closest variant's cosine."""
        found = [m for m in self.search(question, matches).top(FAQ_KIND) if m.id in self.entries]
        words = [w for w in content_prefixes(question) if w not in self.generic]
        return [
            FaqMatch(
                entry=self.entries[m.id],
                score=round(min(1.0, m.question), 4),
                margin=round(m.question - (found[i + 1].question if i + 1 < len(found) else 0), 4),
                explained=round(self._explained(words, m.id), 4),
            )
            for i, m in enumerate(found[:k])
        ]

    def _explained(self, words: list[str], key: str) -> float:
        """Share of the question's content words the entry's variants have; 0 when the
        question's rarest word (fewest entries use it: "canteen") is not among them."""
        if not words:
            return 0.0
        prefixes = self._entry_prefixes.get(key)
        if prefixes is None:  # computed for the entries questions come close to, then kept
            prefixes = frozenset(
                p for _l, text in self.entries[key].texts() for p in content_prefixes(text)
            )
            self._entry_prefixes[key] = prefixes
        return sum(w in prefixes for w in words) / len(words)

    def taught_clause(
        self, question: str, matches: MatchResult | None = None
    ) -> tuple[str, float] | None:
        """The clause whose staff-taught question is nearest, with the cosine."""
        if not self.examples:
            return None
        taught = self.search(question, matches).top(TAUGHT_KIND)
        return (taught[0].id, taught[0].question) if taught else None

    def similarity_vector(self, text: str) -> dict[int, float]:
        """A question as a vector for grouping (``cosine`` of two is their similarity)."""
        return self.matcher.vector(text)


def build_snapshot(
    version: int,
    entries: Iterable[FaqEntry],
    examples: Iterable[ClauseExample] = (),
    overlay: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    answers: AnswerService | None = None,
) -> Snapshot:
    """A snapshot of these entries: the matcher is built (or read from the disk cache) over
    the regulation of ``answers`` (default: the process's) and them."""
    entries = list(entries)
    examples = tuple(examples)
    if answers is None:
        matcher = build_matcher(load_knowledge().documents, entries, examples)
    else:
        matcher = answers.matcher_with(entries, examples)
    return _snapshot(version, entries, examples, overlay, matcher)


def _snapshot(
    version: int,
    entries: list[FaqEntry],
    examples: tuple[ClauseExample, ...],
    overlay: Mapping[str, Mapping[str, Any]] | None,
    matcher: NgramIndex,
) -> Snapshot:
    analyzer = Analyzer()  # the office router reads Latin-typed words the FAQ knows
    df: Counter[str] = Counter()
    for entry in entries:
        seen: set[str] = set()
        for lang, text in entry.texts():
            analyzer.learn(text, lang)
            seen.update(content_prefixes(text))
        df.update(seen)
    cut = max(GENERIC_MIN_ENTRIES, GENERIC_SHARE * len(entries))
    offices = load_offices(overlay)
    return Snapshot(
        version=version,
        entries={e.key: e for e in entries},
        offices=offices,
        matcher=matcher,
        router=OfficeRouter(offices, analyzer),
        examples=examples,
        generic=frozenset(p for p, n in df.items() if n >= cut),
        word_df=dict(df),
    )


@lru_cache(maxsize=4)
def _files_snapshot(matcher: NgramIndex) -> Snapshot:
    return _snapshot(0, list(load_faq_files()), (), None, matcher)


def base_snapshot(answers: AnswerService | None = None) -> Snapshot:
    """The files alone, with the matcher the answer service was built with (which holds the
    files' entries); a database with no FAQ rows uses it as is."""
    knowledge = answers.knowledge if answers is not None else load_knowledge()
    matcher = getattr(knowledge.ranker, "matcher", None)  # a stand-in ranker may have none
    if not isinstance(matcher, NgramIndex):
        matcher = load_knowledge(knowledge.cache_dir).ranker.matcher
    return _files_snapshot(matcher)


def merge_entries(base: Iterable[FaqEntry], rows: Iterable[FaqEntry]) -> list[FaqEntry]:
    """The files' entries with database entries replacing same-key ones and added after."""
    by_key = {e.key: e for e in base}
    for entry in rows:
        by_key[entry.key] = entry
    return list(by_key.values())


def office_choices(offices: Mapping[str, Office], lang: str) -> list[tuple[str, str]]:
    return sorted(((o.id, o.name_in(lang)) for o in offices.values()), key=lambda x: x[1])


class FaqService:
    """One per process: the FAQ snapshot, the hook into the answer path, the FAQ's storage."""

    def __init__(
        self,
        settings: Settings | None,
        sessionmaker: async_sessionmaker[AsyncSession] | None,
        answers: AnswerService,
        *,
        i18n: I18n | Catalogs | None = None,
        answer_over_confident: bool = False,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.answers = answers
        self.i18n = i18n or answers.i18n
        # Off: a confident clause always stands (the clause search decides what is about the
        # regulation). On: a strong FAQ match replaces a confident clause that the entry does
        # not name itself; measured with bench/eval_answers.py --faq-over-confident.
        self.answer_over_confident = answer_over_confident
        self._base = base_snapshot(answers)  # the files alone
        self.snapshot: Snapshot = self._base
        self._loaded: int | None = None  # None: the database was never read
        self._lock = asyncio.Lock()

    # --- freshness ---------------------------------------------------------------------------

    async def current_version(self, session: AsyncSession | None = None) -> int:
        if session is not None:
            value = await session.scalar(
                select(FaqVersion.version).where(FaqVersion.name == VERSION_NAME)
            )
            return int(value or 0)
        assert self.sessionmaker is not None
        async with self.sessionmaker() as own:
            return await self.current_version(own)

    async def known_version(self, session: AsyncSession | None = None) -> int:
        """The FAQ's version, read (in ``session`` when given) only when the process's
        :mod:`bot.hotcache` does not hold it: a bump's commit makes every process forget it.
        Sound to read in the update's session: on PostgreSQL each statement sees what was
        committed before it, and a SQLite read outside a write transaction is its own snapshot
        (inside one, no other writer can have committed); a bump committed after the generation
        is taken keeps the value read out of the cache."""
        assert self.sessionmaker is not None
        cache = hotcache.of(self.sessionmaker.kw["bind"])
        known = cache.get(hotcache.FAQ, VERSION_NAME)
        if known is not None:
            return int(known)
        generation = cache.generation(hotcache.FAQ)
        version = await self.current_version(session)
        cache.put(hotcache.FAQ, VERSION_NAME, version, generation)
        return version

    async def refresh(self, session: AsyncSession | None = None, *, force: bool = False) -> bool:
        """Reload the database part when another process (or this one) changed it; the version
        is read in ``session`` when given (the update's own), and only when not known current
        (:meth:`known_version`). Without a database (``studentbot ask``, the evaluation) the
        files alone are the FAQ."""
        if self.sessionmaker is None:
            return False
        version = await self.known_version(session)
        if version == self._loaded and not force:
            return False
        if self._lock.locked() and not force and self._loaded is not None:
            # another update of this process is rebuilding the index: answer from the current
            # snapshot rather than wait (a rebuild of thousands of entries takes seconds)
            return False
        async with self._lock:
            if version == self._loaded and not force:
                return False
            async with self.sessionmaker() as session:
                version = await self.current_version(session)
                entries = await self._db_entries(session)
                examples = [
                    ClauseExample(r.text, r.language, r.clause_id)
                    for r in await session.scalars(
                        select(ClauseExampleRow).order_by(ClauseExampleRow.id)
                    )
                ]
                overlay = {
                    r.office_id: dict(r.fields or {})
                    for r in await session.scalars(select(OfficeOverride))
                }
            if not entries and not examples and not overlay:
                snapshot = replace(self._base, version=version)
            else:
                merged = merge_entries(load_faq_files(), entries)
                snapshot = await asyncio.to_thread(
                    build_snapshot, version, merged, examples, overlay, answers=self.answers
                )
            self.snapshot = snapshot
            self._loaded = version
            return True

    @staticmethod
    async def _db_entries(session: AsyncSession) -> list[FaqEntry]:
        out = []
        rows = await session.scalars(
            select(FaqEntryRow).where(FaqEntryRow.status == "live").order_by(FaqEntryRow.id)
        )
        for row in rows:
            try:
                out.append(FaqEntry.from_data(row.data, where="database", origin=row.origin))
            except FaqDataError as exc:  # never let one bad row take the FAQ down
                log.error("FAQ entry %s in the database is unusable: %s", row.key, exc)
        return out

    @staticmethod
    async def bump(session: AsyncSession) -> None:
        """Count one change (in the caller's transaction); when it commits, every process
        forgets the version it knew and reads it again (:mod:`bot.hotcache`)."""
        hotcache.changed(session.sync_session, hotcache.FAQ, [VERSION_NAME])
        postgres = session.get_bind().dialect.name == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        now = utcnow()
        stmt = insert(FaqVersion).values(name=VERSION_NAME, version=1, changed_at=now)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"version": FaqVersion.version + 1, "changed_at": now},
            )
        )

    # --- the interface -----------------------------------------------------------------------

    @property
    def offices(self) -> dict[str, Office]:
        return self.snapshot.offices

    @property
    def entries(self) -> dict[str, FaqEntry]:
        return self.snapshot.entries

    def office(self, office_id: str | None) -> Office | None:
        return self.snapshot.offices.get(office_id or "")

    @property
    def matcher(self) -> NgramIndex:
        """The question matcher of the snapshot this process holds (clauses and FAQ)."""
        return self.snapshot.matcher

    def match(
        self,
        question: str,
        lang: str,
        *,
        threshold: float = MATCH_OUT_OF_SCOPE,
        matches: MatchResult | None = None,
    ) -> FaqMatch | None:
        """The entry a question asks, when its similarity reaches ``threshold``."""
        found = self.snapshot.match(question, lang, k=2, matches=matches)
        if found and found[0].score >= threshold and found[0].explained >= MATCH_EXPLAINED:
            return found[0]
        return None

    def route_office(self, question: str, lang: str) -> Office | None:
        route = self.snapshot.router.route(question, lang)
        return route.office if route is not None else None

    async def ask(
        self, question: str, lang: str, *, session: AsyncSession | None = None
    ) -> Answer:
        """What the bot answers: the ranking over this process's matcher (clauses and FAQ in
        one index), then :meth:`resolve`. A confident clause does not wait for the FAQ's
        version check: FAQ entries never move a clause's scores."""
        answer = await self.answers.ask(question, lang, matcher=self.snapshot.matcher)
        return await self.resolve(question, lang, answer, session=session)

    async def resolve(
        self, question: str, lang: str, answer: Answer, *, session: AsyncSession | None = None
    ) -> Answer:
        """The hook: what the bot answers once the FAQ and the offices are consulted (after
        reloading them when another process changed them)."""
        if not self._consults(answer):
            return answer
        try:
            await self.refresh(session)
        except Exception:  # the database is down: answer from what this process has
            log.exception("FAQ refresh failed; answering from the loaded snapshot")
        return self.consult(question, lang, answer)

    def _consults(self, answer: Answer) -> bool:
        if answer.kind in (AnswerKind.UNSURE, AnswerKind.OUT_OF_SCOPE):
            return True
        return self.answer_over_confident and answer.kind is AnswerKind.ANSWER

    def consult(self, question: str, lang: str, answer: Answer) -> Answer:
        """Synchronous part of :meth:`resolve` (the snapshot this process holds). The FAQ
        entries and taught questions come from the answer's own search when this snapshot's
        matcher made it (no second search), else from a search of the snapshot."""
        if not self._consults(answer):
            return answer
        lang = lang if lang in LANGS else "kk"
        snap = self.snapshot
        matches = snap.search(question, answer.matches)
        if answer.kind is not AnswerKind.ANSWER:
            taught = snap.taught_clause(question, matches)
            if (
                taught is not None
                and taught[1] >= TAUGHT_CLAUSE
                and taught[0] in self.answers.regulation
            ):
                clause_id, score = taught
                clause = self.answers.answer(clause_id, lang)
                return replace(
                    clause,
                    confidence=round(score, 4),
                    clauses=tuple(dict.fromkeys([clause_id, *answer.clauses])),
                )
        threshold = {
            AnswerKind.UNSURE: MATCH_UNSURE,
            AnswerKind.OUT_OF_SCOPE: MATCH_OUT_OF_SCOPE,
        }.get(answer.kind, MATCH_OVER_CONFIDENT)
        found = self.match(question, lang, threshold=threshold, matches=matches)
        if found is not None and not (
            answer.kind is AnswerKind.ANSWER and answer.primary in found.entry.clauses
        ):
            return self.faq_answer(
                found.entry, lang, confidence=found.score, ranked=answer.clauses
            )
        if answer.kind is AnswerKind.OUT_OF_SCOPE:
            office = self.route_office(question, lang)
            if office is not None:
                return self.office_answer(
                    office, lang, confidence=answer.confidence, ranked=answer.clauses
                )
        return answer

    # --- texts -------------------------------------------------------------------------------

    def office_label(self, office: Office | None, lang: str) -> str:
        return office.name_in(lang) if office is not None else _("the Helpdesk")

    def contact_lines(self, office: Office, lang: str) -> list[str]:
        """Known contacts only: a placeholder never becomes a line."""
        lines = []
        icons = {"phone": "☎️", "email": "✉️", "telegram": "💬", "website": "🌐"}
        parts = [f"{icons[k]} {html.escape(v, quote=False)}" for k, v in office.contacts.items()]
        if parts:
            lines.append(" · ".join(parts))
        hours = office.hours_in(lang)
        if hours:
            lines.append(f"🕘 {html.escape(hours, quote=False)}")
        location = office.location_in(lang)
        if location:
            lines.append(f"📍 {html.escape(location, quote=False)}")
        return lines

    def faq_answer(
        self,
        entry: FaqEntry,
        lang: str,
        *,
        confidence: float = 1.0,
        ranked: tuple[str, ...] = (),
    ) -> FaqAnswer:
        """The entry as the student sees it, in ``lang`` or a fallback with a note.
        ``ranked`` keeps the clause search's ranking for the log and the evaluation, as an
        out-of-scope answer does; the text cites none of it (``primary`` is None)."""
        with use_locale(self.i18n, lang):
            return FaqAnswer(
                kind=AnswerKind.FAQ,
                clauses=ranked,
                confidence=confidence,
                text=self.render_entry(entry, lang),
                lang=lang,
                entry_key=entry.key,
                office_id=entry.office,
                served_lang=entry.served_language(lang),
            )

    def render_entry(self, entry: FaqEntry, lang: str, *, intro: str | None = None) -> str:
        """HTML in the current locale. Never a clause citation line: «FAQ · <office>»."""
        served = entry.served_language(lang) or lang
        office = self.office(entry.office)
        label = html.escape(self.office_label(office, lang), quote=False)
        lines: list[str] = []
        if intro:
            lines += [intro, ""]
        if not entry.clauses:  # the fact is not the regulation's: say so, and who has it
            lines.append(
                _("Regulation No. 066 does not cover this; {office} handles it.").format(
                    office=label
                )
            )
        if served != lang:
            lines.append("<i>" + fallback_note(served) + "</i>")
        title = entry.question.get(served)  # a title in another language than the answer: none
        if title:
            lines.append(f"🗂 <b>{html.escape(title, quote=False)}</b>")
        lines.append(html.escape(entry.answer.get(served, ""), quote=False))
        if entry.to_confirm:
            lines.append("<i>" + _("ℹ️ To be confirmed by the office.") + "</i>")
        lines.append(_("🗂 FAQ · {office}").format(office=label))
        if office is not None:
            lines += self.contact_lines(office, lang)
        return "\n".join(lines)

    def office_answer(
        self,
        office: Office,
        lang: str,
        *,
        confidence: float = 0.0,
        ranked: tuple[str, ...] = (),
    ) -> FaqAnswer:
        with use_locale(self.i18n, lang):
            return FaqAnswer(
                kind=AnswerKind.OFFICE,
                clauses=ranked,
                confidence=min(confidence, 0.2),
                text=self.render_office(office, lang),
                lang=lang,
                office_id=office.id,
            )

    def render_office(self, office: Office, lang: str) -> str:
        lines = [
            _("Regulation No. 066 does not cover this; {office} handles it.").format(
                office=html.escape(office.name_in(lang), quote=False)
            )
        ]
        contacts = self.contact_lines(office, lang)
        if contacts:
            lines += contacts
            lines.append(_("Or press «🙋 Ask a person» and the helpdesk will help."))
        else:
            lines.append(
                _(
                    "I do not have this office's contacts yet: press «🙋 Ask a person» and the "
                    "helpdesk will put you in touch."
                )
            )
        return "\n".join(lines)

    # --- storage -----------------------------------------------------------------------------

    async def save_entry(
        self,
        session: AsyncSession,
        entry: FaqEntry,
        *,
        created_by: int | None = None,
        origin: str = "staff",
    ) -> None:
        """Insert or replace a database entry and count the change (caller commits)."""
        row = await session.scalar(select(FaqEntryRow).where(FaqEntryRow.key == entry.key))
        data = entry.as_data()
        if row is None:
            session.add(
                FaqEntryRow(
                    key=entry.key, data=data, origin=origin, status="live", created_by=created_by
                )
            )
        else:
            row.data = data
            row.origin = origin
            row.status = "live"
            row.updated_at = utcnow()
        await session.flush()
        await self.bump(session)

    async def retire_entry(self, session: AsyncSession, key: str) -> bool:
        result = await session.execute(
            update(FaqEntryRow)
            .where(FaqEntryRow.key == key, FaqEntryRow.status == "live")
            .values(status="retired", updated_at=utcnow())
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await self.bump(session)
            return True
        return False

    async def next_key(self, session: AsyncSession, prefix: str = "staff") -> str:
        taken = set(await session.scalars(select(FaqEntryRow.key)))
        taken.update(load_faq_files_keys())
        n = len(taken) + 1
        while f"{prefix}-{n:04d}" in taken:
            n += 1
        return f"{prefix}-{n:04d}"

    async def add_clause_example(
        self,
        session: AsyncSession,
        *,
        text: str,
        lang: str,
        clause_id: str,
        group_id: int | None = None,
        created_by: int | None = None,
    ) -> None:
        session.add(
            ClauseExampleRow(
                text=text[:1000],
                language=lang,
                clause_id=clause_id,
                group_id=group_id,
                created_by=created_by,
            )
        )
        await session.flush()
        await self.bump(session)

    async def clause_examples(self, session: AsyncSession) -> list[ClauseExample]:
        rows = await session.scalars(select(ClauseExampleRow).order_by(ClauseExampleRow.id))
        return [ClauseExample(r.text, r.language, r.clause_id) for r in rows]

    # --- the offices overlay -----------------------------------------------------------------

    async def set_office_field(
        self,
        session: AsyncSession,
        office_id: str,
        key: str,
        value: str | list[str] | None,
        *,
        updated_by: int | None = None,
    ) -> Office:
        """Store one admin edit (None clears the field back to "to be filled"); returns the
        office as it reads now. Raises FaqDataError on a bad field or value."""
        if key not in EDITABLE_OFFICE_FIELDS:
            raise FaqDataError(f"{key} is not an editable office field")
        if isinstance(value, str):
            value = value.strip()[:MAX_FIELD_CHARS] or None
        row = await session.get(OfficeOverride, office_id)
        fields = dict(row.fields or {}) if row is not None else {}
        fields[key] = value
        base = next(
            (o for o in load_offices_data() if o.get("id") == office_id), {"id": office_id}
        )
        merged = merge_office(base, fields)
        office = Office.from_data(merged)  # validates
        if row is None:
            session.add(OfficeOverride(office_id=office_id, fields=fields, updated_by=updated_by))
        else:
            row.fields = fields
            row.updated_by = updated_by
            row.updated_at = utcnow()
        await session.flush()
        await self.bump(session)
        return office

    # --- export / import ---------------------------------------------------------------------

    async def export_data(self, session: AsyncSession, *, include_files: bool) -> dict[str, Any]:
        """Everything for review outside Telegram, in the YAML files' shape."""
        db = await self._db_entries(session)
        db_keys = {e.key for e in db}
        entries = [
            {**e.as_data(), "origin": e.origin}
            for e in (merge_entries(load_faq_files(), db) if include_files else db)
            if include_files or e.key in db_keys
        ]
        examples = [
            {"question": ex.text, "lang": ex.lang, "clause": ex.clause_id}
            for ex in await self.clause_examples(session)
        ]
        return {"entries": entries, "clause_examples": examples}

    async def import_data(
        self, session: AsyncSession, raw: Any, *, where: str, created_by: int | None = None
    ) -> tuple[int, int]:
        """Upsert entries (and add clause examples) from an export-shaped document; all or
        nothing (FaqDataError names the first bad entry). Returns (entries, examples)."""
        entries = [replace(e, origin="import") for e in _parse_import_entries(raw, where=where)]
        seen: set[str] = set()
        for entry in entries:
            if entry.key in seen:
                raise FaqDataError(f"{where}: entry {entry.key} is listed twice")
            seen.add(entry.key)
            if entry.office and entry.office not in self.snapshot.offices:
                raise FaqDataError(f"{where}: entry {entry.key}: unknown office {entry.office!r}")
            for cid in entry.clauses:
                if cid not in self.answers.regulation:
                    raise FaqDataError(f"{where}: entry {entry.key}: no clause {cid!r}")
        examples = _parse_import_examples(raw, where=where)
        for text, _lang, clause_id in examples:
            if clause_id not in self.answers.regulation:
                raise FaqDataError(f"{where}: clause example {text!r}: no clause {clause_id!r}")
        existing = {
            (r.text, r.language, r.clause_id)
            for r in await session.scalars(select(ClauseExampleRow))
        }
        for entry in entries:
            await self.save_entry(session, entry, created_by=created_by, origin="import")
        added = 0
        for text, lang, clause_id in examples:
            if (text, lang, clause_id) not in existing:
                await self.add_clause_example(
                    session, text=text, lang=lang, clause_id=clause_id, created_by=created_by
                )
                added += 1
        return len(entries), added


class AnsweringWithFaq:
    """``answer(question, lang)`` as the bot's question handler answers, without a database:
    the clause search, then the FAQ hook over the files' FAQ (``studentbot ask``, the
    evaluation)."""

    def __init__(self, answers: AnswerService, *, answer_over_confident: bool = False) -> None:
        self.answers = answers
        self.faq = FaqService(None, None, answers, answer_over_confident=answer_over_confident)

    def answer(self, question: str, lang: str) -> Answer:
        answer = self.answers.answer(question, lang, matcher=self.faq.matcher)
        return self.faq.consult(question, lang, answer)


def load_faq_files_keys() -> set[str]:
    return {e.key for e in load_faq_files()}


def fallback_note(served: str) -> str:
    if served == "ru":
        return _("ℹ️ This answer is not translated into your language yet; here it is in Russian.")
    if served == "kk":
        return _("ℹ️ This answer is not translated into your language yet; here it is in Kazakh.")
    return _("ℹ️ This answer is not translated into your language yet; here it is in English.")


def _parse_import_entries(raw: Any, *, where: str) -> list[FaqEntry]:
    from knowledge.faq import parse_entries

    if isinstance(raw, Mapping):
        return parse_entries(raw.get("entries") or [], where=where, origin="import")
    return parse_entries(raw, where=where, origin="import")


def _parse_import_examples(raw: Any, *, where: str) -> list[tuple[str, str, str]]:
    if not isinstance(raw, Mapping):
        return []
    items = raw.get("clause_examples") or []
    if not isinstance(items, list):
        raise FaqDataError(f"{where}: 'clause_examples' must be a list")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise FaqDataError(f"{where}: clause example #{i} must be a mapping")
        text = str(item.get("question") or "").strip()
        lang = str(item.get("lang") or "")
        clause_id = str(item.get("clause") or "").strip()
        if not text or lang not in LANGS or not clause_id:
            raise FaqDataError(
                f"{where}: clause example #{i} needs 'question', 'lang' (kk, ru, en), 'clause'"
            )
        out.append((text, lang, clause_id))
    return out


def reviewed_today() -> date:
    return utcnow().date()


__all__ = [
    "EDITABLE_OFFICE_FIELDS",
    "MATCH_OUT_OF_SCOPE",
    "MATCH_UNSURE",
    "AnsweringWithFaq",
    "FaqAnswer",
    "FaqService",
    "Snapshot",
    "base_snapshot",
    "build_snapshot",
    "fallback_note",
    "office_choices",
]
