"""KPI definitions shared by the aggregate queries and the brute-force audit.

Both sides produce the same *base figures* (plain counts, sums, percentiles) per group;
:func:`derive` turns base figures into what the board shows (rates, service level, ages),
so the two implementations can only disagree on the data, never on the arithmetic.

Definitions ("today" starts at midnight of the configured zone, "15m" is the current minute and
the 14 before it):
- received: distinct contacts, auto-replies and bounces excluded; repeats: dedup = repeat;
  complaints: category = complaint; abandoned: phone contacts whose call was abandoned.
- handled: cases resolved today. in_queue: opened cases with no first response, not resolved or
  closed; oldest waiting: age of the oldest of those.
- service level: first-response clocks met / (met + breached), cases, today.
- SLA warnings / breaches: SLA events of any clock.
- first response / resolution p50 and p90: seconds from the case's first contact to its first
  response (resolution), for cases answered (resolved) today; ``quantileExact`` semantics.
- resolution rate: cases closed today that were resolved / cases closed today (a case closed
  without a resolution, e.g. the customer never answered, counts against it); the target is >= 95%.
- upsell conversion: leads converted / leads with a result, each lead's latest result reported today
  (sales feed results back on ``upsell.outcomes.v1``), in the lead's queue and channel.
- forecast: the mean of the previous days (up to 7, those with any contact) over the same span,
  midnight to the current minute, shifted by whole days (24 h); ``forecast_day`` the mean of those
  whole days; ``volume_vs_forecast`` how far received is above (+) or below (-) the forecast, in %.
- CSAT: mean of each surveyed case's latest score (0-100), surveys answered today.
- NPS: % promoters (9-10) minus % detractors (0-6) over each case's latest 0-10 answer, for
  answers given today.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

BASE = ("received", "received_15m", "repeats", "complaints", "abandoned", "phone_received",
        "sla_warnings_today", "sla_warnings_15m", "sla_breaches_today", "sla_breaches_15m", "fr_met", "fr_breached",
        "upsell_leads", "upsell_decided", "upsell_converted", "handled", "responded", "in_queue",
        "oldest_waiting_since", "first_response_p50", "first_response_p90", "resolution_p50", "resolution_p90",
        "closed", "closed_resolved", "csat_sum", "surveys", "nps_answers", "promoters", "detractors", "history_days",
        "history_to_now", "history_whole_days")
PERCENTILES = (0.5, 0.9)


@dataclass(frozen=True)
class Window:
    now: datetime
    day_start: datetime
    recent_start: datetime
    minute: datetime  # the start of the current minute

    @classmethod
    def at(cls, now: datetime | None = None, zone: str = "UTC", recent: timedelta = timedelta(minutes=15)) -> "Window":
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        local = now.astimezone(ZoneInfo(zone))
        day = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
        minute = now.replace(second=0, microsecond=0)  # minute-aligned, so per-minute states answer exactly
        return cls(now=now, day_start=day, recent_start=minute - recent + timedelta(minutes=1), minute=minute)


def empty() -> dict[str, float | None]:
    figures: dict[str, float | None] = {name: 0 for name in BASE}
    for name in ("oldest_waiting_since", "first_response_p50", "first_response_p90", "resolution_p50", "resolution_p90"):
        figures[name] = None
    return figures


def derive(base: dict[str, object], now: datetime) -> dict[str, object]:
    """Board figures from base figures."""
    def ratio(a: str, b: str) -> float | None:
        return round(100.0 * float(base[a]) / float(base[b]), 1) if base[b] else None

    since = base["oldest_waiting_since"]
    out = dict(base)
    out["oldest_waiting_seconds"] = max(0.0, (now - since).total_seconds()) if isinstance(since, datetime) else None
    out["oldest_waiting_since"] = since.isoformat() if isinstance(since, datetime) else None
    answered = float(base["fr_met"]) + float(base["fr_breached"])
    out["service_level"] = round(100.0 * float(base["fr_met"]) / answered, 1) if answered else None
    out["repeat_rate"] = ratio("repeats", "received")
    out["complaint_rate"] = ratio("complaints", "received")
    out["abandon_rate"] = ratio("abandoned", "phone_received")
    out["resolution_rate"] = ratio("closed_resolved", "closed")
    out["upsell_conversion"] = ratio("upsell_converted", "upsell_decided")
    days = float(base["history_days"])
    out["forecast_to_now"] = round(float(base["history_to_now"]) / days, 1) if days else None
    out["forecast_day"] = round(float(base["history_whole_days"]) / days, 1) if days else None
    expected = out["forecast_to_now"]
    out["volume_vs_forecast"] = round(100.0 * (float(base["received"]) - expected) / expected, 1) if expected else None
    out["csat"] = round(float(base["csat_sum"]) / float(base["surveys"]), 1) if base["surveys"] else None
    answers = float(base["nps_answers"])
    out["nps"] = round(100.0 * (float(base["promoters"]) - float(base["detractors"])) / answers, 1) if answers else None
    return out


def exact_quantile(values: list[float], level: float) -> float | None:
    """ClickHouse ``quantileExact``: the element at floor(level * n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def utc(value: datetime | None) -> datetime | None:
    """chdb returns naive UTC datetimes for DateTime64(3, 'UTC'); make them aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
