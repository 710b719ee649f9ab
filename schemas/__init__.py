"""Event models and the topic catalog: the only place connectors, streams and sinks meet."""
from .alert import Alert, AlertEvent, AlertStatus
from .contact import (Attachment, CallDetails, Channel, Contact, ContactEvent, ContactKind, Identifiers,
                      Thread)
from .deadletter import DeadLetter, DeadLetterEvent
from .envelope import Envelope, new_event_id, stable_event_id, utcnow
from .escalation import Escalation, EscalationEvent
from .lifecycle import Lifecycle, LifecycleAction, LifecycleEvent
from .outbound import Outbound, OutboundEvent, OutboundKind
from .raw import RawPayload, RawPayloadEvent
from .recall import Recall, RecallEvent
from .replay import QueueComparison, ReplayReport, ReplayReportEvent, SlaFigures
from .routed import DedupVerdict, RoutedContact, RoutedContactEvent, UpsellVerdict
from .settings import KafkaSettings
from .sla import Sla, SlaClock, SlaEvent, SlaStatus
from .topics import (ALERTS, CATALOG, CONTACTS, DEADLETTER, ESCALATIONS, LIFECYCLE, OUTBOUND, RAW, RECALLS,
                     REPLAY_REPORTS, ROUTED, SLA, UPSELL, UPSELL_OUTCOMES, TopicSpec)
from .upsell import UpsellKind, UpsellLead, UpsellLeadEvent, UpsellOutcome, UpsellOutcomeEvent, UpsellResult

__all__ = [
    "Alert", "AlertEvent", "AlertStatus", "Attachment", "CallDetails", "Channel", "Contact", "ContactEvent",
    "ContactKind", "Identifiers", "Thread", "DeadLetter", "DeadLetterEvent", "Envelope", "new_event_id",
    "stable_event_id", "utcnow", "Escalation", "EscalationEvent", "Lifecycle", "LifecycleAction", "LifecycleEvent",
    "Outbound", "OutboundEvent", "OutboundKind",
    "RawPayload", "RawPayloadEvent", "Recall", "RecallEvent", "QueueComparison", "ReplayReport", "ReplayReportEvent", "SlaFigures",
    "DedupVerdict", "RoutedContact", "RoutedContactEvent", "UpsellVerdict", "KafkaSettings", "Sla", "SlaClock",
    "SlaEvent", "SlaStatus", "ALERTS", "CATALOG", "CONTACTS", "DEADLETTER", "ESCALATIONS", "LIFECYCLE", "OUTBOUND", "RAW",
    "RECALLS", "REPLAY_REPORTS", "ROUTED", "SLA", "UPSELL", "UPSELL_OUTCOMES", "TopicSpec", "UpsellKind", "UpsellLead",
    "UpsellLeadEvent", "UpsellOutcome", "UpsellOutcomeEvent", "UpsellResult",
]
