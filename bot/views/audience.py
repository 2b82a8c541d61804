"""A broadcast's audience buttons and the study forms a student profile and a segment name."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.i18n import gettext as _

STUDY_FORMS = ("full_time", "online", "distance")


class AudienceCallback(CallbackData, prefix="bca"):
    # group | all_groups | everyone | faculty | programme | course_year | study_form | language
    # | done
    key: str
    value: str = ""


def form_name(code: str) -> str:
    return {
        "full_time": _("full-time"),
        "online": _("online-learning form"),
        "distance": _("distance learning"),
    }.get(code, code)
