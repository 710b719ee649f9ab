"""Business calendars: working hours, weekends, holidays, make-up days, time zones and DST."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from streams.sla.calendar import AlwaysOpen, WorkingHours
from streams.sla.policy import CalendarSpec

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))
NINE_TO_SIX = ((time(9), time(18)),)


def ts(y: int, m: int, d: int, hh: int, mm: int = 0, tz: ZoneInfo = SH) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=tz).timestamp()


def local(t: float, tz: ZoneInfo = SH) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc).astimezone(tz).replace(tzinfo=None)


def test_always_open_is_wall_time() -> None:
    cal = AlwaysOpen()
    assert cal.add(1000.0, 30) == 1030.0
    assert cal.between(1000.0, 1030.0) == 30.0


def test_within_working_hours_adds_plainly() -> None:
    cal = WorkingHours("Asia/Shanghai", WEEKDAYS, NINE_TO_SIX)
    assert local(cal.add(ts(2026, 11, 18, 10), 15 * 60)) == datetime(2026, 11, 18, 10, 15)


def test_friday_evening_rolls_over_weekend() -> None:
    cal = WorkingHours("Asia/Shanghai", WEEKDAYS, NINE_TO_SIX)
    # Fri 2026-11-20 17:55 + 15 business minutes: 5 on Friday, 10 on Monday morning
    assert local(cal.add(ts(2026, 11, 20, 17, 55), 15 * 60)) == datetime(2026, 11, 23, 9, 10)
    # a start outside working hours counts from the next opening
    assert local(cal.add(ts(2026, 11, 21, 12), 60)) == datetime(2026, 11, 23, 9, 1)


def test_lunch_break_splits_the_day() -> None:
    cal = WorkingHours("Asia/Shanghai", WEEKDAYS, ((time(9), time(12)), (time(13, 30), time(18))))
    assert local(cal.add(ts(2026, 11, 18, 11, 50), 20 * 60)) == datetime(2026, 11, 18, 13, 40)
    assert cal.between(ts(2026, 11, 18, 11, 50), ts(2026, 11, 18, 13, 40)) == 20 * 60


def test_chinese_statutory_holidays_and_make_up_workday() -> None:
    cal = CalendarSpec(timezone="Asia/Shanghai", holidays_country="CN").build()
    # Spring Festival: Tue 17 Feb 2026 is a statutory holiday
    assert not cal.is_working_day(date(2026, 2, 17))
    # Sat 14 Feb 2026 is a make-up working day (调休)
    assert cal.is_working_day(date(2026, 2, 14))
    # Fri 13 Feb 17:00 + 2 business hours: one hour on Friday, one on the Saturday make-up day
    assert local(cal.add(ts(2026, 2, 13, 17), 2 * 3600)) == datetime(2026, 2, 14, 10, 0)
    # National Day: Thu 1 Oct 2026 closed
    assert local(cal.add(ts(2026, 9, 30, 17, 30), 3600)) > datetime(2026, 10, 3)


def test_explicit_dates_override_country_rules() -> None:
    cal = CalendarSpec(timezone="Asia/Shanghai", holidays_country="CN",
                       holidays=[date(2026, 11, 23)], workdays=[date(2026, 11, 22)]).build()
    # Sun 22 Nov opened by hand, Mon 23 Nov closed by hand
    assert local(cal.add(ts(2026, 11, 21, 12), 9 * 3600 + 60)) == datetime(2026, 11, 24, 9, 1)


def test_dst_spring_forward_shifts_utc_offset() -> None:
    cal = WorkingHours("America/New_York", WEEKDAYS, ((time(9), time(17)),))
    # Fri 6 Mar 2026 16:00 EST + 2 business hours -> Mon 9 Mar 10:00 EDT (clocks went forward on Sun 8 Mar)
    due = cal.add(ts(2026, 3, 6, 16, tz=NY), 2 * 3600)
    assert local(due, NY) == datetime(2026, 3, 9, 10, 0)
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=timezone.utc).timestamp()


def test_dst_day_has_23_and_25_hour_days() -> None:
    cal = WorkingHours("America/New_York", frozenset(range(7)), ((time(0), None),))
    assert cal.between(ts(2026, 3, 8, 0, tz=NY), ts(2026, 3, 9, 0, tz=NY)) == 23 * 3600
    assert cal.between(ts(2026, 11, 1, 0, tz=NY), ts(2026, 11, 2, 0, tz=NY)) == 25 * 3600


def test_add_and_between_are_inverse() -> None:
    cal = CalendarSpec(timezone="Europe/Berlin", hours=["08:00-12:00", "13:00-17:00"], holidays_country="DE").build()
    start = ts(2026, 12, 23, 15, tz=ZoneInfo("Europe/Berlin"))
    for seconds in (1, 3600, 4 * 3600, 27 * 3600 + 17, 100 * 3600):
        assert cal.between(start, cal.add(start, seconds)) == pytest.approx(seconds)


def test_calendar_without_working_time_is_refused() -> None:
    cal = WorkingHours("UTC", frozenset(), NINE_TO_SIX)
    with pytest.raises(ValueError, match="no working time"):
        cal.add(0.0, 60)
