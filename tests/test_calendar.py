"""Working days across Kazakhstan's holidays, quiet hours in the configured time zone, imports."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.services.calendar import (
    CalendarImportError,
    content_deadline,
    holiday_name,
    in_quiet_hours,
    is_working_day,
    load_calendar_file,
    out_of_quiet_hours,
    parse_calendar,
    subtract_working_days,
)

ATYRAU = ZoneInfo("Asia/Atyrau")
NIGHT = (time(22, 0), time(8, 0))


def test_nauryz_days_are_not_working_days() -> None:
    for day in (21, 22, 23, 24, 25):
        assert not is_working_day(date(2026, 3, day)), day
    assert holiday_name(date(2026, 3, 23))
    assert is_working_day(date(2026, 3, 20)) and is_working_day(date(2026, 3, 26))


def test_content_deadline_skips_nauryz() -> None:
    # Period starts Mon 30 March 2026: Fri 27, Thu 26, (Nauryz 21-25), Fri 20, Thu 19, Wed 18.
    assert content_deadline(date(2026, 3, 30)) == date(2026, 3, 18)


def test_content_deadline_skips_independence_day() -> None:
    # Period starts Mon 21 Dec 2026: Fri 18, Thu 17, (Wed 16 holiday), Tue 15, Mon 14, Fri 11.
    assert not is_working_day(date(2026, 12, 16))
    assert content_deadline(date(2026, 12, 21)) == date(2026, 12, 11)


def test_plain_week_counts_weekdays_only() -> None:
    # Mon 7 Sep 2026: Fri 4, Thu 3, Wed 2, Tue 1, Mon 31 Aug.
    assert content_deadline(date(2026, 9, 7)) == date(2026, 8, 31)
    assert subtract_working_days(date(2026, 9, 7), 1) == date(2026, 9, 4)


def test_quiet_hours_in_atyrau_time() -> None:
    # Atyrau is UTC+5: 17:30 UTC is 22:30 there.
    assert in_quiet_hours(datetime(2026, 9, 1, 17, 30, tzinfo=UTC), ATYRAU, *NIGHT)
    assert in_quiet_hours(datetime(2026, 9, 1, 2, 59, tzinfo=UTC), ATYRAU, *NIGHT)  # 07:59
    assert not in_quiet_hours(datetime(2026, 9, 1, 3, 0, tzinfo=UTC), ATYRAU, *NIGHT)  # 08:00
    assert not in_quiet_hours(datetime(2026, 9, 1, 16, 59, tzinfo=UTC), ATYRAU, *NIGHT)


def test_quiet_hours_depend_on_the_time_zone() -> None:
    moment = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)  # 23:00 Atyrau, 19:00 London
    assert in_quiet_hours(moment, ATYRAU, *NIGHT)
    assert not in_quiet_hours(moment, ZoneInfo("Europe/London"), *NIGHT)


def test_out_of_quiet_hours_moves_to_the_morning() -> None:
    late = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)  # 23:00 local
    assert out_of_quiet_hours(late, ATYRAU, *NIGHT) == datetime(2026, 9, 2, 3, 0, tzinfo=UTC)
    early = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)  # 06:00 local, same morning
    assert out_of_quiet_hours(early, ATYRAU, *NIGHT) == datetime(2026, 9, 1, 3, 0, tzinfo=UTC)
    day = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    assert out_of_quiet_hours(day, ATYRAU, *NIGHT) == day


def test_csv_and_yaml_import() -> None:
    csv_text = (
        "kind,title_kk,title_ru,title_en,starts_on,ends_on,audience\n"
        "orientation,Бейімдеу,Адаптация,Orientation,2026-09-01,2026-09-05,online\n"
        "exam_deadline,Емтихан,Экзамен,Exams,2026-12-20,,course:2\n"
    )
    rows = parse_calendar(csv_text, "cal.csv")
    assert [r.kind for r in rows] == ["orientation", "exam_deadline"]
    assert rows[1].audience == "course" and rows[1].audience_value == "2"
    assert rows[1].ends_on is None
    from pathlib import Path

    sample = load_calendar_file(Path("knowledge/data/calendar-sample.yaml"))
    assert any(r.kind == "period" for r in sample)
    assert all(r.title_kk and r.title_ru and r.title_en for r in sample)


def test_import_errors_name_the_row() -> None:
    with pytest.raises(CalendarImportError, match=r"line 2.*title_ru"):
        parse_calendar("kind,title_kk,title_en,starts_on\nperiod,a,b,2026-01-01\n", "x.csv")
    with pytest.raises(CalendarImportError, match=r"event 1.*not a date"):
        parse_calendar(
            "- {kind: period, title: {kk: a, ru: b, en: c}, starts_on: soon}\n", "x.yaml"
        )
