"""Business calendars: how many seconds of a wall-clock span count towards an SLA.

A clock's deadline is "target business seconds after it started", so a 15-minute
working-hours clock started at 17:55 on a Friday ends at 09:10 on Monday (or later when
Monday is a public holiday). All arithmetic is on UTC epoch seconds; working hours are
local wall-clock times in an IANA zone (``zoneinfo``), so DST shifts are handled by
converting each local interval boundary, never by adding fixed offsets.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_lib

#: A calendar with no working time within this many days is a configuration error.
MAX_SCAN_DAYS = 800


class Calendar(Protocol):
    def add(self, start: float, seconds: float) -> float:
        """The instant ``seconds`` business seconds after ``start`` (epoch seconds)."""

    def between(self, start: float, end: float) -> float:
        """Business seconds in ``[start, end)``."""


class AlwaysOpen:
    """7x24 channels (chat): business time is wall time."""

    def add(self, start: float, seconds: float) -> float:
        return start + max(seconds, 0.0)

    def between(self, start: float, end: float) -> float:
        return max(end - start, 0.0)


class WorkingHours:
    """Working days and hours in one time zone, minus holidays, plus make-up working days."""

    def __init__(self, zone: str, working_days: frozenset[int], hours: tuple[tuple[time, time | None], ...],
                 closed_dates: frozenset[date] = frozenset(), open_dates: frozenset[date] = frozenset(),
                 country: str | None = None, subdiv: str | None = None) -> None:
        """``hours``: local (start, end) pairs; end ``None`` means midnight at the end of the day."""
        self.zone = ZoneInfo(zone)
        self.working_days = working_days
        self.hours = hours
        self.closed_dates = closed_dates
        self.open_dates = open_dates
        self.country = country
        self.subdiv = subdiv
        self._intervals = lru_cache(maxsize=4096)(self._day_intervals)
        self._country_years: dict[int, holidays_lib.HolidayBase] = {}

    def _country(self, year: int) -> holidays_lib.HolidayBase | None:
        if self.country is None:
            return None
        if year not in self._country_years:
            self._country_years[year] = holidays_lib.country_holidays(self.country, subdiv=self.subdiv, years=year)
        return self._country_years[year]

    def is_working_day(self, day: date) -> bool:
        """Explicit dates win; then the country's make-up workdays (e.g. China's 调休) and holidays."""
        if day in self.open_dates:
            return True
        if day in self.closed_dates:
            return False
        official = self._country(day.year)
        if official is not None:
            if day in getattr(official, "weekend_workdays", ()):
                return True
            if day in official:
                return False
        return day.weekday() in self.working_days

    def _day_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        """Open intervals of one local date as UTC epoch seconds (DST-correct per boundary)."""
        if not self.is_working_day(day):
            return ()
        out = []
        for start, end in self.hours:
            a = datetime.combine(day, start, tzinfo=self.zone).timestamp()
            if end is None:
                b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone).timestamp()
            else:
                b = datetime.combine(day, end, tzinfo=self.zone).timestamp()
            if b > a:
                out.append((a, b))
        return tuple(out)

    def _local_date(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, tz=timezone.utc).astimezone(self.zone).date()

    def add(self, start: float, seconds: float) -> float:
        remaining = max(seconds, 0.0)
        day = self._local_date(start)
        for _ in range(MAX_SCAN_DAYS):
            for a, b in self._intervals(day):
                if b <= start:
                    continue
                a = max(a, start)
                if remaining <= b - a:
                    return a + remaining
                remaining -= b - a
            day += timedelta(days=1)
        raise ValueError(f"calendar has no working time within {MAX_SCAN_DAYS} days")

    def between(self, start: float, end: float) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        day = self._local_date(start)
        last = self._local_date(end)
        while day <= last:
            for a, b in self._intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total
