"""The topic catalog: every topic the project uses, declared once.

Names are ``<prefix>.<name>``; the prefix (``INTAKE_KAFKA_TOPIC_PREFIX``, default
``intake``) lets tests and replays run beside the live pipeline on one cluster.
Faust's own changelog and repartition topics are managed by Faust and not listed here.
"""
from __future__ import annotations

from dataclasses import dataclass

from .alert import AlertEvent
from .contact import ContactEvent
from .deadletter import DeadLetterEvent
from .envelope import Envelope
from .escalation import EscalationEvent
from .lifecycle import LifecycleEvent
from .outbound import OutboundEvent
from .raw import RawPayloadEvent
from .recall import RecallEvent
from .replay import ReplayReportEvent
from .routed import RoutedContactEvent
from .sla import SlaEvent
from .upsell import UpsellLeadEvent, UpsellOutcomeEvent

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    value: type[Envelope]
    key: str
    description: str
    partitions: int = 4
    retention_ms: int = 7 * DAY_MS
    compacted: bool = False

    def full_name(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name

    def config(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        cfg = {"retention.ms": str(self.retention_ms), "cleanup.policy": "compact" if self.compacted else "delete"}
        return cfg


RAW = TopicSpec("raw.v1", RawPayloadEvent, "contact event id",
                "Providers' original payloads with the headers needed to re-verify; for audit and replay.",
                retention_ms=30 * DAY_MS)
CONTACTS = TopicSpec("contacts.v1", ContactEvent, "channel:provider_message_id",
                     "Normalized contacts from every channel connector, before any decision.")
ROUTED = TopicSpec("contacts.routed.v1", RoutedContactEvent, "customer key",
                   "Contacts with identity, case, dedup verdict, category, priority, queue and upsell verdict.")
LIFECYCLE = TopicSpec("lifecycle.v1", LifecycleEvent, "case id",
                      "Case transitions from the service desk: assigned, first response, waiting, resolved, closed, reopened, survey.")
SLA = TopicSpec("sla.v1", SlaEvent, "case id",
                "SLA clock events: started, warning, breached, met, paused, resumed.")
ESCALATIONS = TopicSpec("escalations.v1", EscalationEvent, "case id",
                        "Tier changes from routing rules and SLA breaches.")
UPSELL = TopicSpec("upsell.leads.v1", UpsellLeadEvent, "customer key",
                   "Sales leads with score, evidence and context for a sales system.")
UPSELL_OUTCOMES = TopicSpec("upsell.outcomes.v1", UpsellOutcomeEvent, "lead id",
                            "Sales' result for a lead (converted, declined), fed back by the sales system; "
                            "the latest per lead counts.")
OUTBOUND = TopicSpec("outbound.v1", OutboundEvent, "case id",
                     "Messages for other systems to send (the pipeline sends none itself): acknowledgements of new "
                     "cases, satisfaction surveys of closed ones and recall notices, addressed on the customer's channel.")
RECALLS = TopicSpec("recalls.v1", RecallEvent, "order number",
                    "Recall campaigns' affected orders, one per event, from a product or quality system: each known "
                    "customer of one gets a recall notice on outbound.v1.")
ALERTS = TopicSpec("alerts.v1", AlertEvent, "alert fingerprint",
                   "Operational alerts (breach spikes, silent channels, dead-letter rate), firing and resolved.",
                   partitions=1)
DEADLETTER = TopicSpec("deadletter.v1", DeadLetterEvent, "none",
                       "Records a stage could not process, with the cause and the payload.",
                       partitions=1, retention_ms=30 * DAY_MS)

REPLAY_REPORTS = TopicSpec("replay.reports.v1", ReplayReportEvent, "run id",
                           "Replay (what-if) runs: live vs replayed SLA attainment, queue / category changes, leads.",
                           partitions=1, retention_ms=90 * DAY_MS)

CATALOG: tuple[TopicSpec, ...] = (RAW, CONTACTS, ROUTED, LIFECYCLE, SLA, ESCALATIONS, UPSELL, UPSELL_OUTCOMES, RECALLS,
                                  OUTBOUND, ALERTS, DEADLETTER, REPLAY_REPORTS)


def by_event_type() -> dict[str, TopicSpec]:
    return {spec.value.EVENT_TYPE: spec for spec in CATALOG}


def markdown_table(prefix: str = "intake") -> str:
    """The subscriber-facing table in docs/topics.md is generated from this."""
    rows = ["| topic | key | value (CloudEvents type) | partitions | retention | description |",
            "|---|---|---|---|---|---|"]
    for s in CATALOG:
        keep = "compacted" if s.compacted else f"{s.retention_ms // DAY_MS} d"
        rows.append(f"| `{s.full_name(prefix)}` | {s.key} | `{s.value.EVENT_TYPE}` ([schema](schemas/{s.value.EVENT_TYPE}.json)) "
                    f"| {s.partitions} | {keep} | {s.description} |")
    return "\n".join(rows) + "\n"
