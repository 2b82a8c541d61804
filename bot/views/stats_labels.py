"""Issue 13: the words of the statistics (charts, summary, digest) in the reader's language."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.i18n import LANGUAGE_NAMES
from bot.views.application_texts import field_label


def language_label(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code if code != "?" else _("not chosen"))


def outcome_label(outcome: str) -> str:
    return {
        "answered": _("answered with a clause"),
        "faq": _("answered by the FAQ"),
        "unsure": _("not sure"),
        "not_covered": _("not covered"),
        "other": _("other (greetings, empty)"),
    }.get(outcome, outcome)


def topic_label(topic: str) -> str:
    return {
        "all": _("all requests"),
        "application": _("Application"),
        "schedule": _("Schedule and access"),
        "technical": _("Technical problem"),
        "other": _("Other"),
    }.get(topic, topic)


def kind_label(kind: str) -> str:
    return {
        "dl": _("Distance learning"),
        "online": _("Online form"),
        "": _("kind not chosen"),
    }.get(kind, kind)


def role_label(role: str) -> str:
    return {
        "student": _("students"),
        "curator": _("curators"),
        "staff": _("staff"),
        "admin": _("admins"),
    }.get(role, role)


def step_label(step: str) -> str:
    """A wizard step as the funnel names it: the field's own label, or the step's."""
    return {
        "kind": _("choice of application"),
        "consent_technical": _("technical requirements accepted"),
        "consent_personal_data": _("personal data consent"),
        "consent_user_agreement": _("user agreement"),
        "summary": _("summary before submitting"),
        "edit": _("editing a field"),
    }.get(step) or field_label(step)


def broadcast_kind_label(kind: str) -> str:
    return {
        "message": _("broadcast"),
        "reminder": _("reminder"),
        "faq": _("FAQ follow-up"),
    }.get(kind, kind)
