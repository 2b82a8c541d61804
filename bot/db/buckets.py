"""Local-date buckets of UTC timestamps in SQL, the same on SQLite and PostgreSQL.

Timestamps are stored in UTC; staff count days and weeks in ``TIMEZONE``. PostgreSQL converts
with ``timezone(zone, ts)``. SQLite has no time zones, so the zone's UTC offset is added to the
moment's Julian day — and where the zone changes its offset within the period (summer time),
a ``CASE`` picks the offset in force at each row's moment, so buckets are exact either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, func
from sqlalchemy.sql.elements import ColumnElement


def offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """``[(from_utc, offset_minutes), …]``: the zone's offsets over [start, end), each from the
    moment it takes effect (the first from ``start``). Found hour by hour, then to the minute."""

    def minutes(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset() or timedelta(0)
        return int(delta.total_seconds() // 60)

    found = [(start, minutes(start))]
    at = start
    while at < end:
        step = min(at + timedelta(hours=1), end)
        if minutes(step) != found[-1][1]:
            lo, hi = at, step  # the change lies in (lo, hi]: narrow it to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (lo, mid) if minutes(mid) != found[-1][1] else (mid, hi)
            found.append((hi, minutes(hi)))
        at = step
    return found


JDN_ORDINAL = 1721425  # Julian day number of 0001-01-01 is 1721426 (date ordinal 1)


@dataclass(frozen=True, slots=True)
class Buckets:
    """Builds ``local day`` and ``local week`` (its Monday) expressions for one dialect.

    PostgreSQL returns dates. SQLite returns integers, which it groups much faster than date
    strings: the local day's Julian day number, and for a week that number divided by 7 (a
    Julian day number divisible by 7 is a Monday). :meth:`day_of` and :meth:`week_of` read
    either back as the date (the week's Monday)."""

    dialect: str
    tz: ZoneInfo
    start: datetime  # UTC, the period's first moment
    end: datetime  # UTC, just after the period

    def _sqlite_jdn(self, column: Any, divisor: int) -> ColumnElement[Any]:
        def number(offset_minutes: int) -> ColumnElement[Any]:
            local = func.julianday(column) + (offset_minutes / 1440 + 0.5)
            return cast(local / divisor if divisor > 1 else local, Integer)

        spans = offsets(self.tz, self.start, self.end)
        if len(spans) == 1:
            return number(spans[0][1])
        whens = [(column < spans[i + 1][0], number(spans[i][1])) for i in range(len(spans) - 1)]
        return case(*whens, else_=number(spans[-1][1]))

    def day(self, column: Any) -> ColumnElement[Any]:
        """The local calendar date of ``column``."""
        if self.dialect == "postgresql":
            return cast(func.timezone(self.tz.key, column), Date)
        return self._sqlite_jdn(column, 1)

    def week(self, column: Any) -> ColumnElement[Any]:
        """The week (from Monday, local) of ``column``."""
        if self.dialect == "postgresql":
            return cast(func.date_trunc("week", func.timezone(self.tz.key, column)), Date)
        return self._sqlite_jdn(column, 7)

    @staticmethod
    def day_of(value: Any) -> date:
        if isinstance(value, int):
            return date.fromordinal(value - JDN_ORDINAL)
        return as_date(value)

    @staticmethod
    def week_of(value: Any) -> date:
        if isinstance(value, int):
            return date.fromordinal(value * 7 - JDN_ORDINAL)
        return as_date(value)


def as_date(value: Any) -> date:
    """A bucket as read back: ``date`` on PostgreSQL, ``'YYYY-MM-DD'`` on SQLite."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
