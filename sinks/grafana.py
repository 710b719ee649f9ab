"""Grafana dashboard for ClickHouse-server deployments, generated from the wallboard's own SQL.

``python -m sinks.grafana`` rewrites ``deploy/grafana/dashboards/intake-wallboard.json``; a test
keeps the committed file equal to the generated one, so Grafana and the built-in wallboard can
never drift apart. Query parameters become Grafana template variables (``$queue``, ``$channel``);
"today" is the UTC day in Grafana (the built-in wallboard honours ``INTAKE_SINK_DAY_TIMEZONE``).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .wallboard import queries

OUT = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "intake-wallboard.json"
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "intake-clickhouse"}
GRAFANA_PARAMS = {
    "day": "toDateTime64(toStartOfDay(now('UTC')), 3, 'UTC')",
    "recent": "toDateTime64(toStartOfMinute(now('UTC')) - INTERVAL 14 MINUTE, 3, 'UTC')",
    "minute": "toDateTime64(toStartOfMinute(now('UTC')), 3, 'UTC')",
    "q": "'${queue}'",
    "ch": "'${channel}'",
}
SETTINGS = " SETTINGS prefer_column_name_to_alias = 1"
SOURCES = {"contacts": queries.CONTACTS, "sla": queries.SLA, "upsell": queries.UPSELL, "conversion": queries.CONVERSION,
           "forecast": queries.FORECAST, "cases": queries.CASES}
STATS = [  # (title, query, expression over that query's columns, unit, thresholds)
    ("Received today", "contacts", "received", "short", None),
    ("Received, last 15 min", "contacts", "received_15m", "short", None),
    ("Forecast by now", "forecast", "if(history_days > 0, round(history_to_now / history_days, 1), NULL)", "short",
     None),
    ("Handled today", "cases", "handled", "short", None),
    ("Resolution rate", "cases", "if(closed > 0, 100 * closed_resolved / closed, NULL)", "percent", "resolution"),
    ("In queue", "cases", "in_queue", "short", None),
    ("Oldest waiting", "cases", "if(in_queue > 0, dateDiff('second', oldest_waiting_since, now()), NULL)", "s", [900, 1800]),
    ("Service level", "sla", "if(fr_met + fr_breached > 0, 100 * fr_met / (fr_met + fr_breached), NULL)", "percent", "sl"),
    ("SLA breaches, 15 min", "sla", "sla_breaches_15m", "short", [1, 1]),
    ("SLA breaches today", "sla", "sla_breaches_today", "short", [1, 10]),
    ("SLA warnings, 15 min", "sla", "sla_warnings_15m", "short", [1, 5]),
    ("First response p50", "cases", "if(responded > 0, first_response[1], NULL)", "s", None),
    ("First response p90", "cases", "if(responded > 0, first_response[2], NULL)", "s", None),
    ("Resolution p50", "cases", "if(handled > 0, resolution[1], NULL)", "s", None),
    ("Resolution p90", "cases", "if(handled > 0, resolution[2], NULL)", "s", None),
    ("Repeat contacts", "contacts", "if(received > 0, 100 * repeats / received, NULL)", "percent", None),
    ("Complaints", "contacts", "if(received > 0, 100 * complaints / received, NULL)", "percent", None),
    ("Abandoned calls", "contacts", "if(phone_received > 0, 100 * abandoned / phone_received, NULL)", "percent", [5, 10]),
    ("Upsell leads today", "upsell", "upsell_leads", "short", None),
    ("Upsell conversion", "conversion", "if(upsell_decided > 0, 100 * upsell_converted / upsell_decided, NULL)", "percent",
     None),
    ("CSAT", "cases", "if(surveys > 0, csat_sum / surveys, NULL)", "none", "csat"),
    ("NPS", "cases", "if(nps_answers > 0, 100 * (promoters - detractors) / nps_answers, NULL)", "none", "nps"),
]


def grafana_sql(sql: str) -> str:
    """Query parameters ``{name:Type}`` -> Grafana expressions and variables."""
    return re.sub(r"\{(\w+):[^{}]*\}", lambda m: GRAFANA_PARAMS[m[1]], sql)


def _thresholds(spec: object) -> dict:
    green, amber, red = "green", "orange", "red"
    if spec == "sl":
        steps = [{"color": red, "value": None}, {"color": amber, "value": 80}, {"color": green, "value": 90}]
    elif spec == "resolution":
        steps = [{"color": red, "value": None}, {"color": amber, "value": 90}, {"color": green, "value": 95}]
    elif spec == "csat":
        steps = [{"color": red, "value": None}, {"color": amber, "value": 60}, {"color": green, "value": 70}]
    elif spec == "nps":
        steps = [{"color": red, "value": None}, {"color": green, "value": 0}]
    elif isinstance(spec, list):
        steps = [{"color": green, "value": None}, {"color": amber, "value": spec[0]}, {"color": red, "value": spec[1]}]
    else:
        steps = [{"color": "text", "value": None}]
    return {"mode": "absolute", "steps": steps}


def _target(sql: str) -> dict:
    return {"refId": "A", "datasource": DATASOURCE, "editorType": "sql", "format": 1, "queryType": "table", "rawSql": sql}


def stat_sql(source: str, expression: str) -> str:
    return f"SELECT {expression} AS value FROM ({grafana_sql(SOURCES[source])}) WHERE gq = 1 AND gc = 1{SETTINGS}"


def table_sql(source: str) -> str:
    return grafana_sql(SOURCES[source]) + SETTINGS


def dashboard() -> dict:
    panels: list[dict] = []
    for n, (title, source, expression, unit, thresholds) in enumerate(STATS):
        panels.append({
            "id": n + 1, "type": "stat", "title": title, "datasource": DATASOURCE,
            "gridPos": {"h": 5, "w": 4, "x": (n % 6) * 4, "y": (n // 6) * 5},
            "targets": [_target(stat_sql(source, expression))],
            "options": {"colorMode": "background" if thresholds else "value", "graphMode": "none", "textMode": "value",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
            "fieldConfig": {"defaults": {"unit": unit, "decimals": 1 if unit in ("percent", "none") else 0,
                                         "thresholds": _thresholds(thresholds), "color": {"mode": "thresholds"}},
                            "overrides": []},
        })
    top = (len(STATS) + 5) // 6 * 5
    for n, (source, title) in enumerate([("contacts", "Contacts by queue / channel"), ("sla", "SLA by queue / channel"),
                                         ("cases", "Cases by queue / channel"), ("upsell", "Upsell by queue / channel")]):
        panels.append({"id": 100 + n, "type": "table", "title": title + " (empty queue and channel = total)",
                       "datasource": DATASOURCE, "gridPos": {"h": 9, "w": 12, "x": (n % 2) * 12, "y": top + (n // 2) * 9},
                       "targets": [_target(table_sql(source))], "options": {"showHeader": True}})
    variable = lambda name, table: {  # noqa: E731
        "name": name, "label": name.capitalize(), "type": "query", "datasource": DATASOURCE,
        "query": f"SELECT DISTINCT {name} FROM {table} ORDER BY {name}", "definition": "", "refresh": 1,
        "includeAll": True, "allValue": "", "multi": False, "current": {"text": "All", "value": "$__all"}}
    return {
        "uid": "intake-wallboard", "title": "Inquiry intake · wallboard", "tags": ["intake"], "timezone": "utc",
        "schemaVersion": 39, "version": 1, "editable": True, "refresh": "5s", "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [variable("queue", "contact_stats_1m"), variable("channel", "contact_stats_1m")]},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
