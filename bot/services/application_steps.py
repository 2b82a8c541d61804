"""The application wizard as data: its steps, their order, and where an answer leads.

Pure (no aiogram, no I/O): the handlers (``handlers/applications/wizard.py``) ask the step these
functions name and record answers through them. The draft is the FSM data, a dict with the keys
of :class:`Draft` (persisted by the storage, so a wizard resumes after a restart); ``done``
lists the steps answered, which lets "edit a field" ask only what the edit invalidated and
"back" step to the previous question.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from bot.db.models.applications import ApplicationKind

GROUP = "ApplyForm"  # the FSM states' group: a step's state is "ApplyForm:<step>"
KIND = "kind"  # choosing distance learning or the online form (before any step)
SUMMARY = "summary"  # the answers shown for submitting
EDIT = "edit"  # choosing a field to change

KINDS = (ApplicationKind.DISTANCE.value, ApplicationKind.ONLINE.value)
ROLES = ("student", "parent", "representative")

DL_STEPS = (
    "ground",
    "role",
    "applicant_name",
    "full_name",
    "identifier",
    "programme",
    "course",
    "start",
    "end",
    "phone",
    "document",
)
ONLINE_STEPS = (
    "programme",
    "full_name",
    "identifier",
    "phone",
    "consent_technical",
    "consent_personal_data",
    "consent_user_agreement",
)
# Steps answered by typing (the others by a button, a contact or a file).
TEXT_STEPS = (
    "applicant_name",
    "full_name",
    "identifier",
    "programme",
    "course",
    "start",
    "end",
    "phone",
)
# Editing one field makes these answers stale too.
INVALIDATES = {"start": ("end",), "programme": ("course",), "role": ("applicant_name",)}


class Consent(TypedDict):
    version: str
    language: str
    at: str  # ISO time of acceptance


class Draft(TypedDict, total=False):
    """The answers so far, under the keys the FSM stores them with."""

    kind: str  # "dl" | "online"
    ground: str
    role: str
    applicant_name: str | None
    full_name: str
    id_kind: str  # "iin" | "student_id" | "passport"
    id_value: str
    no_iin: bool
    programme_code: str
    programme_name: str
    programme_level: str
    dl_cap: str
    arts_pending: dict[str, str] | None  # the programme, until «music art or not» is answered
    refused_programme: str | None  # a teacher-training code refused by 5.4.6
    course: int
    start: str  # ISO date
    end: str
    phone: str
    doc_kind: str | None  # "photo" | "document" | "in_person"
    doc_file_id: str | None
    doc_name: str | None
    consents: dict[str, Consent]
    done: list[str]
    editing: bool  # changing a field from the summary


def steps_for(draft: Mapping[str, Any]) -> list[str]:
    """The steps of this draft's kind, in order (no applicant's name when the student applies)."""
    if draft.get("kind") == ApplicationKind.ONLINE.value:
        return list(ONLINE_STEPS)
    steps = list(DL_STEPS)
    if draft.get("role", "student") == "student":
        steps.remove("applicant_name")
    return steps


def step_of(state_name: str | None) -> str | None:
    """``"ApplyForm:phone"`` -> ``"phone"`` (also ``kind``, ``summary``, ``edit``); else None."""
    if not state_name or not state_name.startswith(GROUP + ":"):
        return None
    return state_name.split(":", 1)[1]


def record(draft: Mapping[str, Any], step: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The draft with ``step`` answered by ``values`` (while editing, what it invalidates is
    asked again)."""
    data = {**draft, **values}
    done = [s for s in data.get("done", []) if s != step] + [step]
    for stale in INVALIDATES.get(step, ()):
        if stale in done and data.get("editing"):
            done.remove(stale)
    data["done"] = done
    return data


def missing(draft: Mapping[str, Any]) -> list[str]:
    done = draft.get("done", [])
    return [s for s in steps_for(draft) if s not in done]


def next_after(draft: Mapping[str, Any], step: str) -> str:
    """Where the wizard goes once ``step`` is recorded: the next step, or :data:`SUMMARY`."""
    order = steps_for(draft)
    if draft.get("editing"):
        left = missing(draft)
        return left[0] if left else SUMMARY
    later = order[order.index(step) + 1 :] if step in order else []
    return later[0] if later else SUMMARY


def back_from(draft: Mapping[str, Any], current: str | None) -> str:
    """Where «⬅️ Back» leads from ``current``: a step, :data:`SUMMARY` or :data:`KIND`."""
    order = steps_for(draft)
    if current == EDIT:
        return SUMMARY
    if current == SUMMARY:
        return order[-1]
    if current in order and order.index(current) > 0:
        return order[order.index(current) - 1]
    return KIND


def reopen(draft: Mapping[str, Any], step: str) -> dict[str, Any] | None:
    """The draft with ``step`` to be answered again from the summary; None if it has no such
    step (a field of the other kind)."""
    if step not in steps_for(draft):
        return None
    return {**draft, "editing": True, "done": [s for s in draft.get("done", []) if s != step]}
