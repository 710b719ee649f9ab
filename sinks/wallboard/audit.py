"""Brute force: the board's base figures recomputed in Python from the raw event tables.

Independent of the materialized views and the aggregate SQL, it is the reference the tests
(and the token-protected ``/api/audit``) compare the board against. It reads whole tables, so
it is for audits and tests, not for a wall display at scale.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from .kpis import PERCENTILES, Window, derive, empty, exact_quantile, utc


def _rows(client: Client, sql: str, **params: object) -> list[dict]:
    return list(client.query(sql, parameters=params).named_results())


def base_figures(client: Client, window: Window, queue: str = "", channel: str = "") -> dict:
    day, recent = window.day_start, window.recent_start

    def keys(q: str, ch: str) -> list:
        if (queue and q != queue) or (channel and ch != channel):
            return []
        return [None, ("queue", q), ("channel", ch)]

    sets: dict = defaultdict(lambda: defaultdict(set))
    contacts = _rows(client, "SELECT event_id, received_at, queue, channel, dedup, category, call_outcome, case_id FROM contacts")
    history_days: set[int] = set()
    for c in contacts:
        at = utc(c["received_at"])
        if at < day:
            _history(c, at, window, keys, sets, history_days)
            continue
        for key in keys(c["queue"], c["channel"]):
            s = sets[key]
            if c["dedup"] != "not_a_contact":
                s["received"].add(c["event_id"])
                if at >= recent:
                    s["received_15m"].add(c["event_id"])
                if c["category"] == "complaint":
                    s["complaints"].add(c["event_id"])
                if c["channel"] == "phone":
                    s["phone_received"].add(c["event_id"])
            if c["dedup"] == "repeat":
                s["repeats"].add(c["event_id"])
            if c["call_outcome"] == "abandoned":
                s["abandoned"].add(c["event_id"])
    for e in _rows(client, "SELECT event_id, case_id, clock, status, at, queue, channel FROM sla_events"):
        at = utc(e["at"])
        if at < day:
            continue
        for key in keys(e["queue"], e["channel"]):
            s = sets[key]
            if e["status"] in ("warning", "breached"):
                name = "sla_warnings" if e["status"] == "warning" else "sla_breaches"
                s[f"{name}_today"].add(e["event_id"])
                if at >= recent:
                    s[f"{name}_15m"].add(e["event_id"])
            if e["clock"] == "first_response" and e["status"] in ("met", "breached"):
                s["fr_met" if e["status"] == "met" else "fr_breached"].add(e["case_id"])
    leads = {}
    for lead in _rows(client, "SELECT event_id, at, queue, channel FROM upsell_leads"):
        leads[lead["event_id"]] = lead
        if utc(lead["at"]) >= day:
            for key in keys(lead["queue"], lead["channel"]):
                sets[key]["upsell_leads"].add(lead["event_id"])
    latest: dict[str, tuple] = {}
    for o in _rows(client, "SELECT event_id, lead_id, at, result FROM upsell_outcomes"):
        at = utc(o["at"])
        if at >= day and (o["lead_id"] not in latest or (at, o["event_id"]) > latest[o["lead_id"]][:2]):
            latest[o["lead_id"]] = (at, o["event_id"], o["result"])
    for lead_id, (_, _, result) in latest.items():
        lead = leads.get(lead_id)
        for key in keys(lead["queue"], lead["channel"]) if lead else []:
            sets[key]["upsell_decided"].add(lead_id)
            if result == "converted":
                sets[key]["upsell_converted"].add(lead_id)

    groups: dict = defaultdict(empty)
    groups[None] = empty()
    for key, named in sets.items():
        for name, members in named.items():
            groups[key][name] = len(members)
    _case_figures(client, contacts, window, keys, groups)
    for figures in groups.values():
        figures["history_days"] = len(history_days)  # unfiltered: the same for every group
    return dict(groups)


def _history(c: dict, at: datetime, window: Window, keys, sets: dict, days: set[int]) -> None:
    """A contact of the 7 days before today: its day (1 = yesterday) and whether it came before the
    current time of day on that day."""
    ago = window.day_start - at
    if c["dedup"] == "not_a_contact" or ago > timedelta(days=7):
        return
    back = (ago - timedelta(microseconds=1)) // timedelta(days=1) + 1
    days.add(back)
    for key in keys(c["queue"], c["channel"]):
        sets[key]["history_whole_days"].add(c["event_id"])
        if at + timedelta(days=back) < window.minute:
            sets[key]["history_to_now"].add(c["event_id"])


def _case_figures(client: Client, contacts: list[dict], window: Window, keys, groups: dict) -> None:
    """Fold every case from its raw events, then count per group."""
    cases: dict[str, dict] = defaultdict(lambda: {"opened_at": None, "first_response_at": None, "resolved_at": None,
                                                  "closed_at": None, "survey_at": None, "csat": None,
                                                  "nps_at": None, "nps": None,
                                                  "channel": (None, ""), "queue": (None, "")})

    def latest(case: dict, field: str, at, value: str, first: bool = False) -> None:
        held = case[field][0]
        if held is None or (at < held if first else at > held):
            case[field] = (at, value)

    for c in contacts:
        if not c["case_id"] or c["dedup"] == "not_a_contact":
            continue
        case, at = cases[c["case_id"]], utc(c["received_at"])
        case["opened_at"] = min(filter(None, (case["opened_at"], at)))
        latest(case, "channel", at, c["channel"], first=True)
        latest(case, "queue", at, c["queue"])
    for e in _rows(client, "SELECT case_id, at, queue FROM escalations"):
        latest(cases[e["case_id"]], "queue", utc(e["at"]), e["queue"])
    for l in _rows(client, "SELECT case_id, action, at, queue, csat, nps FROM lifecycle"):
        case, at = cases[l["case_id"]], utc(l["at"])
        if l["queue"]:
            latest(case, "queue", at, l["queue"])
        if l["action"] in ("first_response", "responded"):
            case["first_response_at"] = min(filter(None, (case["first_response_at"], at)))
        for action, field in (("resolved", "resolved_at"), ("closed", "closed_at")):
            if l["action"] == action:
                case[field] = max(filter(None, (case[field], at)))
        if l["csat"] is not None and (case["survey_at"] is None or at > case["survey_at"]):
            case["survey_at"], case["csat"] = at, l["csat"]
        if l["nps"] is not None and (case["nps_at"] is None or at > case["nps_at"]):
            case["nps_at"], case["nps"] = at, l["nps"]

    day = window.day_start
    samples: dict = defaultdict(lambda: defaultdict(list))
    for case in cases.values():
        if case["opened_at"] is None:
            continue
        waiting = case["first_response_at"] is None and case["resolved_at"] is None and case["closed_at"] is None
        for key in keys(case["queue"][1], case["channel"][1]):
            g = groups[key]
            if case["closed_at"] and case["closed_at"] >= day:
                g["closed"] += 1
                g["closed_resolved"] += case["resolved_at"] is not None
            if case["resolved_at"] and case["resolved_at"] >= day:
                g["handled"] += 1
                samples[key]["resolution"].append((case["resolved_at"] - case["opened_at"]).total_seconds())
            if case["first_response_at"] and case["first_response_at"] >= day:
                g["responded"] += 1
                samples[key]["first_response"].append((case["first_response_at"] - case["opened_at"]).total_seconds())
            if waiting:
                g["in_queue"] += 1
                since = g["oldest_waiting_since"]
                g["oldest_waiting_since"] = case["opened_at"] if since is None else min(since, case["opened_at"])
            if case["survey_at"] and case["survey_at"] >= day:
                g["surveys"] += 1
                g["csat_sum"] += case["csat"]
            if case["nps_at"] and case["nps_at"] >= day:
                g["nps_answers"] += 1
                g["promoters"] += case["nps"] >= 9
                g["detractors"] += case["nps"] <= 6
    for key, named in samples.items():
        for name, values in named.items():
            for level in PERCENTILES:
                groups[key][f"{name}_p{int(level * 100)}"] = exact_quantile(values, level)


def board(client: Client, window: Window, queue: str = "", channel: str = "") -> dict:
    groups = base_figures(client, window, queue, channel)
    return {"total": derive(groups[None], window.now),
            "by_queue": {k[1]: derive(v, window.now) for k, v in groups.items() if k and k[0] == "queue"},
            "by_channel": {k[1]: derive(v, window.now) for k, v in groups.items() if k and k[0] == "channel"}}
