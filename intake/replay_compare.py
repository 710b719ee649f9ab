"""Live vs replayed verdicts for one range: the what-if report.

Both sides are read from Kafka (the live topics from the start of the range, the run's
topics whole), restricted to the contacts of the range, so the two describe the same
inquiries: routing verdicts per contact, SLA clocks per queue, escalations, upsell leads.

SLA clocks count once each, by their worst verdict: breached (a breach event, or a stop
after the deadline) beats met. Only clocks started in the range and verdicts reached by its
end count, on both sides: a replay stops at ``--to``, so a live breach after it would be
a difference of horizon, not of rules. Escalations (by routing rules or SLA breaches) count
for the range's cases; live ones only if they happened within the range, for the same reason
(a replay's events carry the time of the run, which stops at ``--to`` by itself).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.envelope import stable_event_id, utcnow
from schemas.replay import QueueComparison, ReplayReport, ReplayReportEvent, SlaFigures
from schemas.settings import KafkaSettings
from schemas.topics import ESCALATIONS, REPLAY_REPORTS, ROUTED, SLA, UPSELL

from . import kafka_range

Json = dict[str, Any]
SOURCE = "/intake/replay"


def _events(kafka: KafkaSettings, spec: Any, from_ms: int | None) -> list[Json]:
    """Decoded events of a topic from ``from_ms`` to its end, one per event id."""
    seen: dict[str, Json] = {}
    for record in kafka_range.read(kafka, kafka.topic(spec), from_ms, None):
        try:
            event = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            continue
        seen.setdefault(event.get("id", ""), event)
    return list(seen.values())


class Side:
    """One side's verdicts for the range's contacts."""

    def __init__(self, routed: list[Json], sla: list[Json], leads: list[Json], escalations: list[Json],
                 contact_ids: set[str], range_from: datetime, range_to: datetime, live: bool) -> None:
        self.routed = {e["data"]["contact_id"]: e["data"] for e in routed if e["data"]["contact_id"] in contact_ids}
        cases = {d["case_id"] for d in self.routed.values() if d["case_id"]}
        lo, hi = range_from.timestamp(), range_to.timestamp()
        self.sla = [e["data"] for e in sla if e["data"]["case_id"] in cases
                    and _ts(e["data"]["started_at"]) >= lo and _ts(e["data"]["at"]) <= hi]
        self.leads = {e["data"]["contact_id"]: e["data"] for e in leads if e["data"]["contact_id"] in contact_ids}
        self.escalations = [e["data"] for e in escalations if e["data"]["case_id"] in cases
                            and (not live or lo <= _ts(e["time"]) <= hi)]

    def rules_versions(self) -> str:
        return ",".join(sorted({d.get("rules_version", "") for d in self.routed.values()}))

    def policy_versions(self) -> str:
        return ",".join(sorted({d.get("policy", "").rpartition("@")[2] for d in self.sla if d.get("policy")}))

    def clocks(self) -> dict[tuple[str, str, str], tuple[str, str, int]]:
        """(case, clock, started_at) -> (queue at the last event, verdict, warnings)."""
        out: dict[tuple[str, str, str], tuple[str, str, int]] = {}
        for d in sorted(self.sla, key=lambda d: _ts(d["at"])):
            key = (d["case_id"], d["clock"], d["started_at"])
            _, verdict, warnings = out.get(key, ("", "open", 0))
            status = d["status"]
            if status in ("breached", "stopped_late"):
                verdict = "breached"
            elif status == "met" and verdict != "breached":
                verdict = "met"
            out[key] = (d["queue"], verdict, warnings + (status == "warning"))
        return out

    def figures(self) -> tuple[SlaFigures, dict[str, SlaFigures]]:
        total: Counter[str] = Counter()
        per_queue: dict[str, Counter[str]] = defaultdict(Counter)
        for queue, verdict, warnings in self.clocks().values():
            for c in (total, per_queue[queue]):
                c["clocks"] += 1
                c[verdict] += 1
                c["warnings"] += warnings
        return _figures(total), {q: _figures(c) for q, c in per_queue.items()}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _figures(c: Counter[str]) -> SlaFigures:
    decided = c["met"] + c["breached"]
    return SlaFigures(clocks=c["clocks"], met=c["met"], breached=c["breached"], warnings=c["warnings"],
                      attainment=round(100.0 * c["met"] / decided, 2) if decided else None)


def compare(live: KafkaSettings, run: KafkaSettings, run_id: str, range_from: datetime, range_to: datetime,
            contact_ids: set[str], lifecycle: int, complete: bool = True) -> ReplayReport:
    """Read both sides from Kafka and build the report."""
    from_ms = int(range_from.timestamp() * 1000)
    sides = [Side(_events(k, ROUTED, f), _events(k, SLA, f), _events(k, UPSELL, f), _events(k, ESCALATIONS, f),
                  contact_ids, range_from, range_to, live=k is live) for k, f in ((live, from_ms), (run, None))]
    return build(run_id, range_from, range_to, sides[0], sides[1], len(contact_ids), lifecycle, complete)


def build(run_id: str, range_from: datetime, range_to: datetime, live: Side, replay: Side, contacts: int,
          lifecycle: int, complete: bool) -> ReplayReport:
    both = sorted(live.routed.keys() & replay.routed.keys())
    changes: Counter[str] = Counter()
    transitions: Counter[str] = Counter()
    for cid in both:
        a, b = live.routed[cid], replay.routed[cid]
        for name in ("queue", "category", "priority", "dedup"):
            if a[name] != b[name]:
                changes[name] += 1
                if name in ("queue", "category"):
                    transitions[f"{name}:{a[name]}->{b[name]}"] += 1
    live_total, live_queues = live.figures()
    replay_total, replay_queues = replay.figures()
    queues = sorted(set(live_queues) | set(replay_queues) | {d["queue"] for s in (live, replay) for d in s.routed.values()})

    def count(side: Side, field: str, queue: str) -> int:
        items = side.routed.values() if field == "contacts" else side.leads.values()
        return sum(1 for d in items if d["queue"] == queue)

    rows = [QueueComparison(queue=q, live=live_queues.get(q, SlaFigures()), replay=replay_queues.get(q, SlaFigures()),
                            live_contacts=count(live, "contacts", q), replay_contacts=count(replay, "contacts", q),
                            live_leads=count(live, "leads", q), replay_leads=count(replay, "leads", q)) for q in queues]
    return ReplayReport(
        run_id=run_id, range_from=range_from, range_to=range_to, generated_at=utcnow(), complete=complete,
        contacts=contacts, lifecycle=lifecycle, live_rules_version=live.rules_versions(),
        replay_rules_version=replay.rules_versions(), live_sla_policy=live.policy_versions(),
        replay_sla_policy=replay.policy_versions(), compared=len(both), queue_changes=changes["queue"],
        category_changes=changes["category"], priority_changes=changes["priority"], dedup_changes=changes["dedup"],
        transitions=dict(transitions.most_common()), live=live_total, replay=replay_total,
        live_leads=len(live.leads), replay_leads=len(replay.leads),
        leads_gained=len(replay.leads.keys() - live.leads.keys()), leads_lost=len(live.leads.keys() - replay.leads.keys()),
        live_escalations=len(live.escalations), replay_escalations=len(replay.escalations), queues=rows)


# ---- output -----------------------------------------------------------------------------------
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def table(report: ReplayReport) -> str:
    """The terminal view: one line per queue, live / replay side by side."""
    r = report
    head = [f"replay {r.run_id}: {r.range_from.isoformat()} .. {r.range_to.isoformat()}"
            f"{'' if r.complete else ' (INCOMPLETE)'}; {r.contacts} contacts, {r.lifecycle} lifecycle events",
            f"rules   live {r.live_rules_version or '-'}  |  replay {r.replay_rules_version or '-'}",
            f"policy  live {r.live_sla_policy or '-'}  |  replay {r.replay_sla_policy or '-'}",
            f"routing {r.compared} compared: queue changed {r.queue_changes}, category changed {r.category_changes}, "
            f"priority changed {r.priority_changes}, dedup changed {r.dedup_changes}", ""]
    cols = ("queue", "contacts", "clocks", "met", "breached", "attainment", "leads")
    lines = [f"{cols[0]:<16}" + "".join(f"{c:>22}" for c in cols[1:]),
             f"{'':<16}" + "".join(f"{'live / replay':>22}" for _ in cols[1:])]

    def row(name: str, lc: int, rc: int, lf: SlaFigures, rf: SlaFigures, ll: int, rl: int) -> str:
        cells = [f"{lc} / {rc}", f"{lf.clocks} / {rf.clocks}", f"{lf.met} / {rf.met}",
                 f"{lf.breached} / {rf.breached}{_delta(rf.breached - lf.breached)}",
                 f"{_pct(lf.attainment)} / {_pct(rf.attainment)}", f"{ll} / {rl}"]
        return f"{name:<16}" + "".join(f"{c:>22}" for c in cells)

    for q in r.queues:
        lines.append(row(q.queue[:16], q.live_contacts, q.replay_contacts, q.live, q.replay, q.live_leads, q.replay_leads))
    lines.append(row("TOTAL", sum(q.live_contacts for q in r.queues), sum(q.replay_contacts for q in r.queues),
                     r.live, r.replay, r.live_leads, r.replay_leads))
    tail = ["", f"upsell leads: live {r.live_leads}, replay {r.replay_leads} "
                f"(+{r.leads_gained} gained, -{r.leads_lost} lost)",
            f"escalations: live {r.live_escalations}, replay {r.replay_escalations}"
            f"{_delta(r.replay_escalations - r.live_escalations)}"]
    if r.transitions:
        tail.append("changes: " + ", ".join(f"{k} x{v}" for k, v in list(r.transitions.items())[:12]))
    return "\n".join(head + lines + tail)


def _delta(d: int) -> str:
    return f" ({d:+d})" if d else ""


def write_json(report: ReplayReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2))
    return path


def publish(report: ReplayReport, live: KafkaSettings) -> str:
    """On the live prefix's REPLAY_REPORTS topic, where the sink picks it up for the wallboard."""
    from confluent_kafka import Producer

    event = ReplayReportEvent(id=stable_event_id("replay-report", report.run_id, report.generated_at.isoformat()),
                              source=SOURCE, subject=report.run_id, data=report)
    producer = Producer(live.confluent(**{"enable.idempotence": True, "acks": "all"}))
    producer.produce(live.topic(REPLAY_REPORTS), key=report.run_id.encode(), value=event.encode())
    if producer.flush(30):
        raise RuntimeError("could not publish the replay report")
    return event.id
