"""Wallboard figures from the aggregate tables (per-minute states and the cases table).

Every query groups by ``GROUPING SETS ((queue), (channel), ())``: one read gives the figures per
queue, per channel and in total, each exact (states merge; nothing is summed across groups).
"""
from __future__ import annotations

from math import isnan

from clickhouse_connect.driver.client import Client

from .kpis import PERCENTILES, Window, derive, empty, utc

FILTER = "({q:String} = '' OR queue = {q:String}) AND ({ch:String} = '' OR channel = {ch:String})"
GROUPS = "GROUP BY GROUPING SETS ((queue), (channel), ()) "
KEYS = "queue, channel, grouping(queue) AS gq, grouping(channel) AS gc"

CONTACTS = (
    f"SELECT {KEYS}, uniqExactMerge(received) AS received, uniqExactMergeIf(received, minute >= {{recent:DateTime64(3, 'UTC')}}) AS received_15m, "
    "uniqExactMerge(repeats) AS repeats, uniqExactMerge(complaints) AS complaints, uniqExactMerge(abandoned) AS abandoned, "
    "uniqExactMergeIf(received, channel = 'phone') AS phone_received "
    "FROM contact_stats_1m WHERE minute >= {day:DateTime64(3, 'UTC')} AND " + FILTER + " " + GROUPS)
SLA = (
    f"SELECT {KEYS}, uniqExactMerge(warnings) AS sla_warnings_today, uniqExactMergeIf(warnings, minute >= {{recent:DateTime64(3, 'UTC')}}) AS sla_warnings_15m, "
    "uniqExactMerge(breaches) AS sla_breaches_today, uniqExactMergeIf(breaches, minute >= {recent:DateTime64(3, 'UTC')}) AS sla_breaches_15m, "
    "uniqExactMerge(fr_met) AS fr_met, uniqExactMerge(fr_breached) AS fr_breached "
    "FROM sla_stats_1m WHERE minute >= {day:DateTime64(3, 'UTC')} AND " + FILTER + " " + GROUPS)
UPSELL = (f"SELECT {KEYS}, uniqExactMerge(leads) AS upsell_leads FROM upsell_stats_1m "
          "WHERE minute >= {day:DateTime64(3, 'UTC')} AND " + FILTER + " " + GROUPS)
# Each lead's latest result reported today, counted in the lead's queue and channel.
CONVERSION = (
    f"SELECT {KEYS}, count() AS upsell_decided, countIf(result = 'converted') AS upsell_converted "
    "FROM (SELECT lead_id, argMax(result, (at, event_id)) AS result FROM upsell_outcomes "
    "WHERE at >= {day:DateTime64(3, 'UTC')} GROUP BY lead_id) AS o "
    "GLOBAL INNER JOIN (SELECT event_id, any(queue) AS queue, any(channel) AS channel FROM upsell_leads "
    "WHERE event_id GLOBAL IN (SELECT lead_id FROM upsell_outcomes WHERE at >= {day:DateTime64(3, 'UTC')}) "
    "GROUP BY event_id) AS l ON l.event_id = o.lead_id "
    "WHERE " + FILTER + " " + GROUPS)
# The previous 7 days: contacts over whole days, and over midnight to the current minute of each day
# (time of day = seconds since the window's midnight, modulo a day); history_days counts the days
# with any contact at all (unfiltered), so a young system forecasts from the days it has.
PAST = "minute >= {day:DateTime64(3, 'UTC')} - INTERVAL 7 DAY AND minute < {day:DateTime64(3, 'UTC')}"
FORECAST = (
    f"SELECT {KEYS}, sum(contacts) AS history_whole_days, "
    "sumIf(contacts, (dateDiff('second', {day:DateTime64(3, 'UTC')}, minute) + 7 * 86400) % 86400 "
    "< dateDiff('second', {day:DateTime64(3, 'UTC')}, {minute:DateTime64(3, 'UTC')})) AS history_to_now, "
    "(SELECT uniqExact(intDiv(dateDiff('second', minute, {day:DateTime64(3, 'UTC')}) - 1, 86400)) "
    f"FROM contact_volume_1m WHERE {PAST}) AS history_days "
    f"FROM contact_volume_1m WHERE {PAST} AND " + FILTER + " " + GROUPS)
WAITING = "first_response_at IS NULL AND resolved_at IS NULL AND closed_at IS NULL"
LEVELS = ", ".join(str(p) for p in PERCENTILES)
CASES = (
    f"SELECT {KEYS}, countIf(resolved_at >= {{day:DateTime64(3, 'UTC')}}) AS handled, "
    f"countIf(first_response_at >= {{day:DateTime64(3, 'UTC')}}) AS responded, countIf({WAITING}) AS in_queue, "
    f"minIf(opened_at, {WAITING}) AS oldest_waiting_since, "
    f"quantilesExactIf({LEVELS})(dateDiff('millisecond', opened_at, first_response_at) / 1000.0, "
    "first_response_at >= {day:DateTime64(3, 'UTC')}) AS first_response, "
    f"quantilesExactIf({LEVELS})(dateDiff('millisecond', opened_at, resolved_at) / 1000.0, "
    "resolved_at >= {day:DateTime64(3, 'UTC')}) AS resolution, "
    "sumIf(csat, survey_at >= {day:DateTime64(3, 'UTC')}) AS csat_sum, countIf(survey_at >= {day:DateTime64(3, 'UTC')}) AS surveys, "
    "countIf(closed_at >= {day:DateTime64(3, 'UTC')}) AS closed, "
    "countIf(closed_at >= {day:DateTime64(3, 'UTC')} AND resolved_at IS NOT NULL) AS closed_resolved, "
    "countIf(nps_at >= {day:DateTime64(3, 'UTC')}) AS nps_answers, "
    "countIf(nps_at >= {day:DateTime64(3, 'UTC')} AND nps >= 9) AS promoters, "
    "countIf(nps_at >= {day:DateTime64(3, 'UTC')} AND nps <= 6) AS detractors "
    "FROM cases_current WHERE opened_at IS NOT NULL AND " + FILTER + " " + GROUPS)


def group_key(queue: str, channel: str, gq: int, gc: int) -> tuple[str, str] | None:
    if gq == 0:
        return ("queue", queue)
    if gc == 0:
        return ("channel", channel)
    return None


def base_figures(client: Client, window: Window, queue: str = "", channel: str = "") -> dict:
    """{None: total, ("queue", q): ..., ("channel", c): ...} -> base figures."""
    params = {"day": window.day_start, "recent": window.recent_start, "minute": window.minute, "q": queue, "ch": channel}
    groups: dict = {}
    for sql in (CONTACTS, SLA, UPSELL, CONVERSION, FORECAST, CASES):
        result = client.query(sql, parameters=params, settings={"prefer_column_name_to_alias": 1})
        for row in result.named_results():
            key = group_key(row.pop("queue"), row.pop("channel"), row.pop("gq"), row.pop("gc"))
            figures = groups.setdefault(key, empty())
            for name, samples in (("first_response", "responded"), ("resolution", "handled")):
                if name in row:  # quantiles of nothing come back as 0: report "no value" instead
                    values = row.pop(name)
                    values = values if row[samples] else [None] * len(PERCENTILES)
                    for level, value in zip(PERCENTILES, values):
                        figures[f"{name}_p{int(level * 100)}"] = None if value is None or isnan(value) else value
            if "oldest_waiting_since" in row:
                row["oldest_waiting_since"] = utc(row["oldest_waiting_since"]) if row["in_queue"] else None
            figures.update({k: (v if v is not None else 0) if k != "oldest_waiting_since" else v for k, v in row.items()})
    groups.setdefault(None, empty())
    for figures in groups.values():  # unfiltered, in the total row (a grouping set () always has one)
        figures["history_days"] = groups[None]["history_days"]
    return groups


def board(client: Client, window: Window, queue: str = "", channel: str = "") -> dict:
    """What the page shows: totals, per queue and per channel, derived and JSON-ready."""
    groups = base_figures(client, window, queue, channel)
    return {
        "generated_at": window.now.isoformat(), "day_start": window.day_start.isoformat(),
        "filters": {"queue": queue, "channel": channel},
        "total": derive(groups[None], window.now),
        "by_queue": {k[1]: derive(v, window.now) for k, v in sorted(groups.items(), key=_order) if k and k[0] == "queue"},
        "by_channel": {k[1]: derive(v, window.now) for k, v in sorted(groups.items(), key=_order) if k and k[0] == "channel"},
    }


def _order(item: tuple) -> tuple:
    return item[0] or ("", "")
