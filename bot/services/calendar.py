"""Working days, quiet hours and the academic calendar (events, derived deadlines, import).

Holidays come from the maintained ``holidays`` package (Kazakhstan, with its observed / moved
days off), never from a hand-written list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LANGUAGES
from bot.db.models.reminders import Audience, CalendarEvent, EventKind

CONTENT_LEAD_WORKING_DAYS = 5  # 6.9.2: digital content on the portal 5 working days before


@lru_cache(maxsize=64)
def _kz_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("KZ", years=year)


def holiday_name(day: date) -> str | None:
    return _kz_holidays(day.year).get(day)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a public holiday (or observed day off) in Kazakhstan."""
    return day.weekday() < 5 and day not in _kz_holidays(day.year)


def subtract_working_days(day: date, count: int) -> date:
    """The date ``count`` working days before ``day`` (``day`` itself not counted)."""
    current = day
    left = count
    while left > 0:
        current -= timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def add_working_days(day: date, count: int) -> date:
    current = day
    left = count
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def content_deadline(period_start: date) -> date:
    """6.9.2: the last day digital content may reach the portal for a period starting then."""
    return subtract_working_days(period_start, CONTENT_LEAD_WORKING_DAYS)


# Quiet hours ----------------------------------------------------------------------------------


def in_quiet_hours(moment: datetime, tz: ZoneInfo, start: time, end: time) -> bool:
    local = moment.astimezone(tz).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def out_of_quiet_hours(moment: datetime, tz: ZoneInfo, start: time, end: time) -> datetime:
    """``moment`` itself, or the end of the quiet period it falls in (aware, in UTC)."""
    if not in_quiet_hours(moment, tz, start, end):
        return moment
    local = moment.astimezone(tz)
    end_day = local.date()
    if start > end and local.time() >= start:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(moment.tzinfo)


def local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


# Import ---------------------------------------------------------------------------------------


class CalendarImportError(ValueError):
    """A calendar file row is invalid; the message names the row and the field."""


@dataclass(frozen=True)
class EventSpec:
    kind: str
    title_kk: str
    title_ru: str
    title_en: str
    starts_on: date
    ends_on: date | None
    audience: str = Audience.ALL.value
    audience_value: str | None = None


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarImportError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_row(row: dict[str, Any], where: str) -> EventSpec:
    kind = str(row.get("kind") or "").strip()
    if kind not in {k.value for k in EventKind}:
        raise CalendarImportError(
            f"{where}: kind {kind!r} is not one of {', '.join(k.value for k in EventKind)}"
        )
    titles = row.get("title")
    if isinstance(titles, dict):
        row = {**row, **{f"title_{k}": v for k, v in titles.items()}}
    names = {lang: str(row.get(f"title_{lang}") or "").strip() for lang in LANGUAGES}
    missing = [lang for lang, text in names.items() if not text]
    if missing:
        raise CalendarImportError(f"{where}: title_{missing[0]} is missing (titles in kk, ru, en)")
    starts = _as_date(row.get("starts_on") or row.get("start"), where)
    ends_raw = row.get("ends_on") or row.get("end")
    ends = _as_date(ends_raw, where) if ends_raw not in (None, "") else None
    if ends is not None and ends < starts:
        raise CalendarImportError(f"{where}: ends_on {ends} is before starts_on {starts}")
    audience = str(row.get("audience") or Audience.ALL.value).strip()
    value: str | None = None
    if ":" in audience:
        audience, value = (part.strip() for part in audience.split(":", 1))
    if row.get("audience_value") not in (None, ""):
        value = str(row["audience_value"]).strip()
    if audience not in {a.value for a in Audience}:
        raise CalendarImportError(
            f"{where}: audience {audience!r} is not one of {', '.join(a.value for a in Audience)}"
        )
    if audience in {"faculty", "course", "group"} and not value:
        raise CalendarImportError(f"{where}: audience {audience} needs a value, e.g. {audience}:1")
    return EventSpec(kind, names["kk"], names["ru"], names["en"], starts, ends, audience, value)


def parse_calendar(content: str, filename: str) -> list[EventSpec]:
    """Rows of a CSV (header: kind,title_kk,title_ru,title_en,starts_on,ends_on,audience) or
    YAML (a list, or ``{events: [...]}``) calendar file."""
    name = filename.lower()
    rows: Sequence[Any]
    if name.endswith((".yaml", ".yml")):
        data = yaml.safe_load(content) or []
        rows = data.get("events", []) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise CalendarImportError("the YAML file must be a list of events")
        return [parse_row(dict(r), f"event {i}") for i, r in enumerate(rows, 1)]
    if name.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
        return [parse_row(r, f"line {i}") for i, r in enumerate(reader, 2)]
    raise CalendarImportError(f"{filename}: expected a .csv, .yaml or .yml file")


def load_calendar_file(path: Path) -> list[EventSpec]:
    return parse_calendar(path.read_text(encoding="utf-8"), path.name)


async def add_events(
    session: AsyncSession, specs: Iterable[EventSpec], *, created_by: int | None = None
) -> list[CalendarEvent]:
    """Insert events, skipping exact repeats (same kind, English title and dates)."""
    out: list[CalendarEvent] = []
    for spec in specs:
        existing = await session.scalar(
            select(CalendarEvent).where(
                CalendarEvent.kind == spec.kind,
                CalendarEvent.title_en == spec.title_en,
                CalendarEvent.starts_on == spec.starts_on,
            )
        )
        if existing is not None:
            continue
        event = CalendarEvent(
            kind=spec.kind,
            title_kk=spec.title_kk,
            title_ru=spec.title_ru,
            title_en=spec.title_en,
            starts_on=spec.starts_on,
            ends_on=spec.ends_on,
            audience=spec.audience,
            audience_value=spec.audience_value,
            created_by=created_by,
        )
        session.add(event)
        out.append(event)
    await session.flush()
    return out


async def upcoming_events(
    session: AsyncSession, today: date, *, limit: int = 20
) -> list[CalendarEvent]:
    rows = await session.scalars(
        select(CalendarEvent)
        .where((CalendarEvent.ends_on >= today) | (CalendarEvent.starts_on >= today))
        .order_by(CalendarEvent.starts_on, CalendarEvent.id)
        .limit(limit)
    )
    return list(rows)
