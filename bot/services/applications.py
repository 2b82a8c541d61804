"""Applications: the eligibility trace, storing, reference numbers, status changes, export.

Handlers stay thin: they collect the wizard's answers in FSM data (a plain dict) and call
:class:`ApplicationService`. Texts that are documents (the statement template, the consent texts
with their versions) live in ``knowledge/data/applications.yaml``; texts that are dialogue go
through gettext.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiogram.utils.i18n import gettext as _
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models.applications import (
    Application,
    ApplicationConsent,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
)
from knowledge.programmes import (
    Category,
    Direction,
    DLCap,
    LookupResult,
    ProgrammeCatalog,
    load_catalog,
)

log = logging.getLogger(__name__)

TEXTS_FILE = (
    Path(__file__).resolve().parent.parent.parent / "knowledge" / "data" / "applications.yaml"
)
GROUNDS: tuple[str, ...] = ("disability", "competition", "health", "mobility", "double_degree")
ROLES: tuple[str, ...] = ("student", "parent", "representative")
CONSENTS: tuple[str, ...] = ("technical", "personal_data", "user_agreement")


@cache
def load_texts(path: Path = TEXTS_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def ground_clauses(ground: str) -> list[str]:
    return list(load_texts()["grounds"][ground]["clauses"])


def consent_text(key: str, lang: str) -> tuple[str, str]:
    """(text, version) of a consent in ``lang``."""
    item = load_texts()["consents"][key]
    return str(item["text"].get(lang) or item["text"]["kk"]).strip(), str(item["version"])


def make_reference(kind: ApplicationKind, year: int, row_id: int) -> str:
    """``DL-2026-00042``: unique because the row id is."""
    return f"{kind.prefix}-{year}-{row_id:05d}"


# --- the eligibility trace --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the trace: the clause, a stable code (rendered by gettext), its params."""

    clause: str
    code: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"clause": self.clause, "code": self.code, "params": self.params}


def dl_trace(data: Mapping[str, Any], direction: Direction | None) -> list[Rule]:
    """Why a distance-learning transfer may go ahead and on what terms, clause by clause."""
    rules: list[Rule] = []
    ground = data.get("ground")
    if ground:
        rules.append(Rule(",".join(ground_clauses(ground)), f"ground_{ground}", {}))
    rules.append(Rule("5.2.2", "free_form", {}))
    cap = data.get("dl_cap")
    if direction is not None:
        if direction.category is Category.PEDAGOGICAL:
            rules.append(Rule("5.4.6", "pedagogical", {}))
        elif cap == DLCap.TWENTY.value:
            rules.append(Rule("5.4.5", "cap_20", {}))
        elif cap == DLCap.ASK.value:
            rules.append(Rule("5.4.5,5.4.7", "cap_arts", {}))
        else:
            rules.append(Rule("5.4.7", "cap_50", {}))
    if ground == "mobility":
        rules.append(Rule("5.4.13", "credits_20", {}))
    elif ground == "double_degree":
        rules.append(Rule("5.4.14", "credits_50", {}))
    rules.append(Rule("5.4.3", "next_order", {}))
    rules.append(Rule("5.4.10", "next_plan", {}))
    rules.append(Rule("5.4.4", "next_monitoring", {}))
    return rules


def online_trace() -> list[Rule]:
    """What an online-form applicant should know before submitting."""
    return [
        Rule("6.2", "online_allowed", {}),
        Rule("6.3", "individual_plan", {}),
        Rule("6.6", "synchronous_20", {}),
        Rule("6.9.4", "mooc_10", {}),
        Rule("6.14", "proctoring", {}),
        Rule("6.17", "transfer_paid", {}),
        Rule("6.7", "contract", {}),
    ]


def _cite(clause: str) -> str:
    ids = clause.split(",")
    if len(ids) == 1:
        return _("clause {id}").format(id=ids[0])
    return _("clauses {ids}").format(ids=", ".join(ids))


def staff_rule_text(code: str) -> str | None:
    """A trace line as the office reads it (the applicant's version says "you", "your")."""
    return {
        "ground_disability": _("Ground: child with disabilities, PMPC recommendation"),
        "ground_competition": _(
            "Ground: training camps, competitions, contests or festivals; classes asynchronous "
            "and/or synchronous"
        ),
        "ground_health": _(
            "Ground: health condition, medical advisory commission's conclusion; classes "
            "organised by the university's decision"
        ),
        "ground_mobility": _("Ground: academic mobility programme"),
        "ground_double_degree": _("Ground: double-degree or student exchange programme"),
        "free_form": _(
            "Free-form application to the Rector by the student or a legal representative"
        ),
        "pedagogical": _(
            "Teacher-training programme: distance learning not allowed, except art. 37-2 p. 2 "
            "of the Law «On Education»"
        ),
        "cap_20": _("Cap: at most 20 % of all disciplines at a distance over the whole study"),
        "cap_arts": _(
            "Cap: 20 % of disciplines for music art and choreography, 50 % for other arts; "
            "check which"
        ),
        "cap_50": _("Cap: at most 50 % of all disciplines at a distance over the whole study"),
        "credits_20": _("Academic mobility: at most 20 % of the credits at a distance"),
        "credits_50": _("Double degree / exchange: at most 50 % of the credits at a distance"),
        "next_order": _("If approved: the Rector's order lists the disciplines at a distance"),
        "next_plan": _("If approved: an individual study plan and schedule"),
        "next_monitoring": _("Monitoring: Platonus and the tutor"),
        "online_allowed": _("Direction not in Appendix 1: the online form is allowed"),
        "individual_plan": _("Individual study plan and schedule"),
        "synchronous_20": _(
            "At least 20 % of each discipline synchronous (MOOC disciplines excepted)"
        ),
        "mooc_10": _("At least 10 % of the credits through MOOCs"),
        "proctoring": _("Attestation form chosen by the university; proctored when online"),
        "transfer_paid": _("Moving between forms: in vacations only, paid"),
        "contract": _(
            "Contract: technical requirements, personal data consent, platform user agreement"
        ),
    }.get(code)


def render_rule(rule: Rule | dict[str, Any], *, for_staff: bool = False) -> str:
    """One trace line in the current locale, with its clause (``for_staff``: the office's)."""
    if isinstance(rule, dict):
        rule = Rule(rule["clause"], rule["code"], dict(rule.get("params") or {}))
    if for_staff:
        text = staff_rule_text(rule.code)
        if text is not None:
            return f"{text} ({_cite(rule.clause)})."
    texts: dict[str, str] = {
        "ground_disability": _(
            "Ground: a child with disabilities, on the recommendation of a psychological-"
            "medical-pedagogical consultation"
        ),
        "ground_competition": _(
            "Ground: a participant of international or republican training camps, sports "
            "competitions, intellectual or creative contests and festivals; classes are given "
            "asynchronously and/or synchronously"
        ),
        "ground_health": _(
            "Ground: a health condition with a medical advisory commission's conclusion; "
            "classes are organised by the university's decision"
        ),
        "ground_mobility": _("Ground: an academic mobility programme"),
        "ground_double_degree": _("Ground: a double-degree or student exchange programme"),
        "free_form": _(
            "The application is written in free form to the Chairman of the Board – Rector by "
            "the student, a parent or another legal representative"
        ),
        "pedagogical": _(
            "Pedagogical programmes: distance learning is not allowed, except the cases of "
            "paragraph 2 of article 37-2 of the Law «On Education»"
        ),
        "cap_20": _(
            "Your programme: at most 20 % of all disciplines over the whole period of study may "
            "be moved to distance learning"
        ),
        "cap_arts": _(
            "Arts programmes: at most 20 % of disciplines for music art and choreography, at "
            "most 50 % for the other arts programmes"
        ),
        "cap_50": _(
            "Your programme: at most 50 % of all disciplines over the whole period of study may "
            "be moved to distance learning"
        ),
        "credits_20": _(
            "Academic mobility: at most 20 % of the total academic credits may be studied at a "
            "distance"
        ),
        "credits_50": _(
            "Double-degree and exchange programmes: at most 50 % of the total academic credits "
            "may be studied at a distance"
        ),
        "next_order": _(
            "Next: the list of disciplines taught at a distance is approved by the Rector's order"
        ),
        "next_plan": _("Next: you get an individual study plan and an individual schedule"),
        "next_monitoring": _("Your participation is monitored through Platonus and by your tutor"),
        "online_allowed": _("Your direction is not in Appendix 1: the online form is allowed"),
        "individual_plan": _("You study by an individual plan and an individual schedule"),
        "synchronous_20": _(
            "At least 20 % of every discipline is synchronous classes (except MOOC disciplines)"
        ),
        "mooc_10": _(
            "At least 10 % of the programme's credits are earned through MOOCs (the university's "
            "platform, Coursera, edX, FutureLearn, Udacity)"
        ),
        "proctoring": _(
            "The university chooses the form of interim and final attestation; when it is "
            "held online, it is proctored online"
        ),
        "transfer_paid": _(
            "Moving between the online and full-time forms happens only in vacations and is paid"
        ),
        "contract": _(
            "You sign a contract that includes the technical requirements, consent to the "
            "processing of personal data and the platform's user agreement"
        ),
    }
    text = texts.get(rule.code, rule.code)
    return f"{text} ({_cite(rule.clause)})."


# --- the service ------------------------------------------------------------------------------


class ApplicationError(Exception):
    """A domain error the handlers turn into a message."""


class NotFound(ApplicationError):
    pass


class StaleAction(ApplicationError):
    """The button was pressed for an older state of the application (replayed or raced)."""


class ApplicationService:
    """Everything about applications that is not dialogue."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: ProgrammeCatalog | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    # time
    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.now().astimezone(self.settings.tz).date()

    # programmes
    def lookup(self, query: str) -> LookupResult:
        return self.catalog.lookup(query)

    def direction(self, code: str | None) -> Direction | None:
        """The direction of a stored code; a programme code (6B06102) maps to its direction."""
        return self.catalog.by_code.get((code or "")[:5])

    def trace_for(self, data: Mapping[str, Any]) -> list[Rule]:
        if data.get("kind") == ApplicationKind.ONLINE.value:
            return online_trace()
        return dl_trace(data, self.direction(data.get("programme_code")))

    # storing
    async def create(
        self, session: AsyncSession, *, user_id: int, language: str, data: dict[str, Any]
    ) -> Application:
        kind = ApplicationKind(data["kind"])
        now = self.now()
        app = Application(
            user_id=user_id,
            kind=kind.value,
            status=ApplicationStatus.SUBMITTED.value,
            language=language,
            ground=data.get("ground"),
            applicant_role=data.get("role"),
            applicant_name=data.get("applicant_name"),
            full_name=data.get("full_name"),
            identifier_kind=data.get("id_kind"),
            identifier=data.get("id_value"),
            programme_code=data.get("programme_code"),
            course=data.get("course"),
            period_start=date.fromisoformat(data["start"]) if data.get("start") else None,
            period_end=date.fromisoformat(data["end"]) if data.get("end") else None,
            phone=data.get("phone"),
            document_kind=data.get("doc_kind"),
            document_file_id=data.get("doc_file_id"),
            document_name=data.get("doc_name"),
            trace=[r.to_dict() for r in self.trace_for(data)],
            created_at=now,
            updated_at=now,
            events=[
                ApplicationEvent(
                    status=ApplicationStatus.SUBMITTED.value, actor_id=user_id, created_at=now
                )
            ],
            consents=[
                ApplicationConsent(
                    consent=key,
                    version=item["version"],
                    language=item.get("language", language),
                    accepted_at=datetime.fromisoformat(item["at"]),
                )
                for key, item in (data.get("consents") or {}).items()
            ],
        )
        session.add(app)
        await session.flush()
        app.reference = make_reference(kind, now.astimezone(self.settings.tz).year, app.id)
        await session.flush()
        return app

    async def get(self, session: AsyncSession, app_id: int) -> Application | None:
        return await session.get(Application, app_id)

    async def for_user(self, session: AsyncSession, user_id: int) -> Sequence[Application]:
        result = await session.scalars(
            select(Application).where(Application.user_id == user_id).order_by(Application.id)
        )
        return result.all()

    async def change_status(
        self,
        session: AsyncSession,
        app_id: int,
        status: ApplicationStatus,
        *,
        actor_id: int,
        version: int,
        comment: str | None = None,
    ) -> Application:
        """Move an application under review to ``status``; ``version`` is the event count the
        staff member saw, so a replayed or raced button cannot decide twice."""
        app = await session.get(Application, app_id, with_for_update=True)
        if app is None:
            raise NotFound(str(app_id))
        if not app.status_enum.under_review or len(app.events) != version:
            raise StaleAction(app.reference or str(app_id))
        now = self.now()
        app.status = status.value
        app.updated_at = now
        app.events.append(
            ApplicationEvent(
                status=status.value, actor_id=actor_id, comment=comment, created_at=now
            )
        )
        await session.flush()
        return app

    async def add_reply(
        self,
        session: AsyncSession,
        app: Application,
        *,
        actor_id: int,
        comment: str | None,
        file_id: str | None = None,
        file_name: str | None = None,
        file_kind: str | None = None,
    ) -> Application:
        """The applicant answers a "more information" request: back to ``submitted``."""
        now = self.now()
        if file_id:
            app.document_kind, app.document_file_id, app.document_name = (
                file_kind,
                file_id,
                file_name,
            )
        app.status = ApplicationStatus.SUBMITTED.value
        app.updated_at = now
        app.events.append(
            ApplicationEvent(
                status=ApplicationStatus.SUBMITTED.value,
                actor_id=actor_id,
                comment=comment,
                created_at=now,
            )
        )
        await session.flush()
        return app

    # the office
    async def export_csv(self, session: AsyncSession, *, status: str | None = None) -> str:
        query = select(Application).order_by(Application.id)
        if status:
            query = query.where(Application.status == status)
        rows = (await session.scalars(query)).all()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "reference",
                "kind",
                "status",
                "created_at",
                "updated_at",
                "language",
                "ground",
                "applicant_role",
                "applicant_name",
                "full_name",
                "identifier_kind",
                "identifier",
                "programme_code",
                "course",
                "period_start",
                "period_end",
                "phone",
                "document",
                "consents",
                "last_comment",
                "anonymised",
            ]
        )
        for app in rows:
            comments = [e.comment for e in app.events if e.comment]
            writer.writerow(
                [
                    app.reference,
                    app.kind,
                    app.status,
                    app.created_at.isoformat(),
                    app.updated_at.isoformat(),
                    app.language,
                    app.ground or "",
                    app.applicant_role or "",
                    app.applicant_name or "",
                    app.full_name or "",
                    app.identifier_kind or "",
                    app.identifier or "",
                    app.programme_code or "",
                    app.course or "",
                    app.period_start or "",
                    app.period_end or "",
                    app.phone or "",
                    app.document_kind or "",
                    "; ".join(f"{c.consent}@{c.version}" for c in app.consents),
                    comments[-1] if comments else "",
                    "yes" if app.anonymised_at else "",
                ]
            )
        return out.getvalue()

    # personal data (found by bot.services.personal_data through these two methods)
    personal_data_key = "applications"
    personal_data_tables = ("applications", "application_events", "application_consents")

    async def collect_personal_data(
        self, session: AsyncSession, user_id: int
    ) -> list[dict[str, Any]]:
        return [application_as_dict(app) for app in await self.for_user(session, user_id)]

    async def erase_personal_data(self, session: AsyncSession, user_id: int) -> int:
        """Decided applications are deleted; those under review are anonymised for the office."""
        count = 0
        now = self.now()
        for app in await self.for_user(session, user_id):
            count += 1
            if app.status_enum.under_review:
                app.user_id = None
                app.anonymised_at = now
                app.applicant_name = None
                app.full_name = None
                app.identifier = None
                app.phone = None
                app.events.append(
                    ApplicationEvent(
                        status=app.status,
                        actor_id=None,
                        comment="anonymised on request",
                        created_at=now,
                    )
                )
            else:
                await session.delete(app)
        await session.flush()
        return count


def application_as_dict(app: Application) -> dict[str, Any]:
    return {
        "reference": app.reference,
        "kind": app.kind,
        "status": app.status,
        "language": app.language,
        "created_at": app.created_at.isoformat(),
        "ground": app.ground,
        "applicant_role": app.applicant_role,
        "applicant_name": app.applicant_name,
        "full_name": app.full_name,
        "identifier_kind": app.identifier_kind,
        "identifier": app.identifier,
        "programme_code": app.programme_code,
        "course": app.course,
        "period_start": app.period_start.isoformat() if app.period_start else None,
        "period_end": app.period_end.isoformat() if app.period_end else None,
        "phone": app.phone,
        "document_kind": app.document_kind,
        "document_file_id": app.document_file_id,
        "history": [
            {"status": e.status, "at": e.created_at.isoformat(), "comment": e.comment}
            for e in app.events
        ],
        "consents": [
            {
                "consent": c.consent,
                "version": c.version,
                "language": c.language,
                "accepted_at": c.accepted_at.isoformat(),
            }
            for c in app.consents
        ],
    }
