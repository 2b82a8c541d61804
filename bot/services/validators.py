"""Validation of what an applicant types: pure functions, no aiogram, no database.

Each validator returns the normalised value or raises :class:`Invalid` whose ``code`` names the
problem; the handlers turn codes into localized messages and repeat the question.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

MAX_NAME = 120
MAX_PERIOD_DAYS = 366  # one academic year: a longer transfer is a change of form, not a period
MAX_LEAD_DAYS = 366  # a start more than a year ahead is almost surely a typo
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
DOCUMENT_MIME_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


class Invalid(ValueError):
    """Input refused; ``code`` is stable (handlers map it to a message), ``params`` fill it."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


# --- names ------------------------------------------------------------------------------------

# Kazakh Cyrillic adds әғқңөұүһі to the Russian alphabet; Latin covers the 2021 Kazakh Latin
# alphabet's letters with diacritics too (ä, ğ, ı, ñ, ö, ş, ū, ü).
_KK_RU = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі"
_LATIN_EXTRA = "äğıñöşūüç"
_NAME_LETTERS = frozenset(_KK_RU + "abcdefghijklmnopqrstuvwxyz" + _LATIN_EXTRA)
_NAME_JOINERS = frozenset(" -'’")


def full_name(text: str) -> str:
    """At least two words of Kazakh, Russian or Latin letters (hyphen and apostrophe allowed)."""
    value = " ".join(unicodedata.normalize("NFC", text or "").split())
    if not value:
        raise Invalid("name_empty")
    if len(value) > MAX_NAME:
        raise Invalid("name_too_long", max=MAX_NAME)
    bad = sorted({ch for ch in value.lower() if ch not in _NAME_LETTERS | _NAME_JOINERS})
    if bad:
        raise Invalid("name_letters", chars=" ".join(bad[:5]))
    words = [w for w in re.split(r"\s+", value) if w.strip("-'’")]
    if len(words) < 2 or any(len(w.strip("-'’")) < 2 for w in words[:2]):
        raise Invalid("name_words")
    return " ".join(w[:1].upper() + w[1:] for w in words)


# --- IIN and student ID -----------------------------------------------------------------------

_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def iin_check_digit(first11: str) -> int | None:
    """Kazakhstan's IIN/BIN control digit for 11 digits, or None when no digit is valid."""
    digits = [int(c) for c in first11]
    check = sum(d * w for d, w in zip(digits, _W1, strict=True)) % 11
    if check == 10:
        check = sum(d * w for d, w in zip(digits, _W2, strict=True)) % 11
    return None if check == 10 else check


def is_valid_iin(value: str) -> bool:
    if not re.fullmatch(r"\d{12}", value):
        return False
    # Digits 1-6 are the birth date YYMMDD, digit 7 the century and sex (1-6 for people).
    month, day, century = int(value[2:4]), int(value[4:6]), int(value[6])
    if not 1 <= month <= 12 or not 1 <= day <= 31 or not 1 <= century <= 6:
        return False
    return iin_check_digit(value[:11]) == int(value[11])


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: str  # "iin", "student_id" or "passport" (no IIN: a passport or ID document)
    value: str


def student_identifier(text: str) -> Identifier:
    """An IIN (12 digits, check digit verified) or a student ID (4-10 letters/digits)."""
    compact = re.sub(r"[\s-]+", "", text or "")
    if not compact:
        raise Invalid("id_empty")
    if compact.isdigit() and len(compact) == 12:
        if not is_valid_iin(compact):
            raise Invalid("iin_checksum")
        return Identifier("iin", compact)
    if compact.isdigit() and len(compact) > 10:
        raise Invalid("iin_length", length=len(compact))
    if re.fullmatch(r"[A-Za-z0-9]{4,10}", compact) and any(c.isdigit() for c in compact):
        return Identifier("student_id", compact.upper())
    raise Invalid("id_format")


def document_number(text: str) -> Identifier:
    """A passport or other identity document number, for applicants without an IIN: 5-16
    letters and digits as printed (spaces, dashes and "№" dropped), at least one digit."""
    compact = re.sub(r"[\s№#-]+", "", text or "").upper()
    if not compact:
        raise Invalid("id_empty")
    if not re.fullmatch(r"[A-ZА-ЯЁ0-9]{5,16}", compact) or not any(c.isdigit() for c in compact):
        raise Invalid("doc_format")
    return Identifier("passport", compact)


def mask_identifier(value: str) -> str:
    """For the staff chat and the export: enough to match, not enough to reuse."""
    if len(value) <= 4:
        return value
    return "•" * (len(value) - 4) + value[-4:]


# --- course year ------------------------------------------------------------------------------

MAX_COURSE = {"bachelor": 5, "master": 2}


def course_year(text: str, level: str = "bachelor") -> int:
    value = (text or "").strip().rstrip(".")
    if not (value.isascii() and value.isdigit()):  # '²'.isdigit() is True, int('²') is not
        raise Invalid("course_number", max=MAX_COURSE.get(level, 5))
    year = int(value)
    top = MAX_COURSE.get(level, 5)
    if not 1 <= year <= top:
        raise Invalid("course_range", max=top)
    return year


# --- dates ------------------------------------------------------------------------------------

_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})[./-](\d{4})\s*$")


def parse_date(text: str) -> date:
    match = _DATE.match(text or "")
    if not match:
        raise Invalid("date_format")
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise Invalid("date_invalid") from None


def start_date(text: str, today: date) -> date:
    value = parse_date(text)
    if value < today:
        raise Invalid("date_past", today=today.strftime("%d.%m.%Y"))
    if value > today + timedelta(days=MAX_LEAD_DAYS):
        raise Invalid("date_far", days=MAX_LEAD_DAYS)
    return value


def end_date(text: str, start: date) -> date:
    value = parse_date(text)
    if value <= start:
        raise Invalid("date_before_start", start=start.strftime("%d.%m.%Y"))
    if (value - start).days > MAX_PERIOD_DAYS:
        raise Invalid("period_too_long", days=MAX_PERIOD_DAYS)
    return value


def format_date(value: date | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return value.strftime("%d.%m.%Y")


# --- phone ------------------------------------------------------------------------------------


def phone(text: str) -> str:
    """Kazakhstan numbers in any usual spelling become +7XXXXXXXXXX; others: + and 8-15 digits."""
    raw = (text or "").strip()
    if not raw or re.search(r"[^\d+()\s.-]", raw):
        raise Invalid("phone_format")
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+") and not digits.startswith("7"):
        if 8 <= len(digits) <= 15:
            return "+" + digits
        raise Invalid("phone_format")
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10:
        raise Invalid("phone_format")
    if digits[0] not in "67":  # Kazakhstan: 7xx mobile and landline, 6xx reserved for Kazakhstan
        raise Invalid("phone_format")
    return "+7" + digits


# --- the supporting document ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    kind: str  # "photo" or "document"
    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    size: int | None


def check_upload(upload: Upload) -> Upload:
    if upload.size is not None and upload.size > MAX_DOCUMENT_BYTES:
        raise Invalid(
            "file_too_big",
            size=f"{upload.size / 1024 / 1024:.1f}",
            max=MAX_DOCUMENT_BYTES // 1024 // 1024,
        )
    if upload.kind == "photo":
        return upload
    mime = (upload.mime_type or "").lower()
    name = (upload.file_name or "").lower()
    if mime in DOCUMENT_MIME_TYPES or (not mime and name.endswith((".pdf", ".jpg", ".png"))):
        return upload
    raise Invalid("file_type", type=upload.mime_type or name.rsplit(".", 1)[-1] or "?")


def as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
