"""Event -> table rows, by field name (models may grow fields; positions never matter).

Each topic has one builder returning ``(table, row)`` pairs; a row is a dict keyed by column
name. A builder may raise on a record it cannot use: the caller turns that into a dead letter.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from schemas import (ALERTS, DEADLETTER, ESCALATIONS, LIFECYCLE, OUTBOUND, REPLAY_REPORTS, ROUTED, SLA, UPSELL,
                     UPSELL_OUTCOMES, AlertEvent, Channel, DeadLetterEvent, EscalationEvent, LifecycleEvent,
                     OutboundEvent, ReplayReportEvent, RoutedContactEvent, SlaEvent, SlaFigures, TopicSpec,
                     UpsellLeadEvent, UpsellOutcomeEvent)

from .pii import Protector

Row = dict[str, object]
Builder = Callable[[bytes, Protector], Iterable[tuple[str, Row]]]


def routed(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = RoutedContactEvent.decode(raw)
    d, c = event.data, event.data.contact
    ids, call = c.customer, c.call
    yield "contacts", {
        "event_id": d.contact_id, "routed_event_id": event.id, "received_at": c.received_at,
        "routed_at": event.time, "channel": str(c.channel), "provider": c.provider, "kind": str(c.kind),
        "provider_message_id": c.provider_message_id, "customer_key": protect.key(d.customer_key),
        "case_id": d.case_id, "dedup": str(d.dedup), "dedup_reason": d.dedup_reason, "category": d.category,
        "phase": d.phase, "severity": d.severity, "sentiment": d.sentiment, "priority": d.priority,
        "priority_reason": d.priority_reason, "segment": d.segment, "queue": d.queue, "tier": d.tier,
        "routing_reason": d.routing_reason, "upsell": str(d.upsell), "upsell_reason": d.upsell_reason,
        "language": c.language or "", "is_public": c.is_public, "form_type": c.form_type or "",
        "call_outcome": call.outcome if call else "", "call_wait_seconds": call.wait_seconds if call else None,
        "callback_requested": bool(call and call.callback_requested), "attachments": len(c.attachments),
        "phone": protect("phone", ids.phone), "email": protect("email", ids.email),
        "handle": protect("handle", ids.handle), "customer_name": protect("name", ids.name),
        "customer_number": protect("number", ids.customer_number),
        "order_numbers": [protect("number", n) for n in ids.order_numbers], "pii_policy": str(protect.policy),
        "rules_version": d.rules_version, "raw_ref": c.raw_ref or "",
    }
    yield "contact_text", {"event_id": d.contact_id, "received_at": c.received_at, "channel": str(c.channel),
                           "case_id": d.case_id, "subject": c.subject or "", "body": c.body}


def lifecycle(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = LifecycleEvent.decode(raw)
    d = event.data
    yield "lifecycle", {"event_id": event.id, "case_id": d.case_id, "action": str(d.action), "at": d.at,
                        "agent": d.agent or "", "queue": d.queue or "", "tier": d.tier, "csat": d.csat,
                        "nps": d.nps, "note": d.note or ""}


def sla(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = SlaEvent.decode(raw)
    d = event.data
    yield "sla_events", {"event_id": event.id, "case_id": d.case_id, "clock": str(d.clock), "status": str(d.status),
                         "at": d.at, "started_at": d.started_at, "deadline": d.deadline,
                         "target_seconds": d.target_seconds, "elapsed_business_seconds": d.elapsed_business_seconds,
                         "fraction": d.fraction, "queue": d.queue, "channel": d.channel, "category": d.category,
                         "severity": d.severity, "segment": d.segment, "policy": d.policy}


def escalation(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = EscalationEvent.decode(raw)
    d = event.data
    yield "escalations", {"event_id": event.id, "at": event.time, "case_id": d.case_id, "from_tier": d.from_tier,
                          "to_tier": d.to_tier, "queue": d.queue, "reason": d.reason, "trigger": d.trigger}


def upsell(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = UpsellLeadEvent.decode(raw)
    d = event.data
    yield "upsell_leads", {"event_id": event.id, "at": event.time, "case_id": d.case_id, "contact_id": d.contact_id,
                           "customer_key": protect.key(d.customer_key), "kind": str(d.kind), "score": d.score,
                           "evidence": d.evidence, "rule": d.rule, "channel": d.channel, "queue": d.queue,
                           "segment": d.segment, "rules_version": d.rules_version}


def upsell_outcome(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = UpsellOutcomeEvent.decode(raw)
    d = event.data
    yield "upsell_outcomes", {"event_id": event.id, "at": d.at, "lead_id": d.lead_id, "result": str(d.result),
                              "amount": d.amount, "currency": d.currency or "", "agent": d.agent or "",
                              "note": d.note or ""}


ADDRESS_KIND = {Channel.EMAIL: "email", Channel.SMS: "phone", Channel.PHONE: "phone"}  # else a platform handle


def outbound(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = OutboundEvent.decode(raw)
    d = event.data
    yield "outbound", {"event_id": event.id, "at": event.time, "kind": str(d.kind), "template": d.template,
                       "case_id": d.case_id, "contact_id": d.contact_id, "channel": str(d.channel),
                       "recipient": protect(ADDRESS_KIND.get(d.channel, "handle"), d.to),
                       "in_reply_to": d.in_reply_to or "", "language": d.language or "",
                       "pii_policy": str(protect.policy), "campaign_id": d.campaign_id or ""}


def alert(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = AlertEvent.decode(raw)
    d = event.data
    yield "alerts", {"event_id": event.id, "at": event.time, "name": d.name, "fingerprint": d.fingerprint,
                     "status": str(d.status), "severity": d.severity, "labels": dict(d.labels),
                     "figures": {k: float(v) for k, v in d.figures.items()}, "summary": d.summary}


def deadletter(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    event = DeadLetterEvent.decode(raw)
    d = event.data
    yield "dead_letters", {"event_id": event.id, "at": event.time, "stage": d.stage, "cause": d.cause,
                           "error_type": d.error_type, "topic": d.topic or "", "partition": d.partition,
                           "offset": d.offset, "key": d.key or "", "payload": d.payload,
                           "payload_encoding": d.payload_encoding, "raw_ref": d.raw_ref or ""}


def replay_report(raw: bytes, protect: Protector) -> Iterable[tuple[str, Row]]:
    """A what-if run's summary (aggregates only: no personal data), and its figures per queue."""
    event = ReplayReportEvent.decode(raw)
    d = event.data

    def sla(prefix: str, f: SlaFigures) -> Row:
        return {f"{prefix}_clocks": f.clocks, f"{prefix}_met": f.met, f"{prefix}_breached": f.breached,
                f"{prefix}_attainment": f.attainment}

    yield "replay_reports", {
        "run_id": d.run_id, "generated_at": d.generated_at, "event_id": event.id, "range_from": d.range_from,
        "range_to": d.range_to, "complete": d.complete, "contacts": d.contacts, "lifecycle": d.lifecycle,
        "live_rules_version": d.live_rules_version, "replay_rules_version": d.replay_rules_version,
        "live_sla_policy": d.live_sla_policy, "replay_sla_policy": d.replay_sla_policy, "compared": d.compared,
        "queue_changes": d.queue_changes, "category_changes": d.category_changes,
        "priority_changes": d.priority_changes, "dedup_changes": d.dedup_changes, "transitions": dict(d.transitions),
        **sla("live", d.live), **sla("replay", d.replay), "live_leads": d.live_leads, "replay_leads": d.replay_leads,
        "leads_gained": d.leads_gained, "leads_lost": d.leads_lost, "live_escalations": d.live_escalations,
        "replay_escalations": d.replay_escalations}
    for q in d.queues:
        yield "replay_queues", {"run_id": d.run_id, "queue": q.queue, "generated_at": d.generated_at,
                                "live_contacts": q.live_contacts, "replay_contacts": q.replay_contacts,
                                **sla("live", q.live), **sla("replay", q.replay), "live_leads": q.live_leads,
                                "replay_leads": q.replay_leads}


def poison(*, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, error: Exception,
           at: datetime, event_id: str) -> Row:
    """The sink's own dead letter for a record it could not turn into rows."""
    payload, encoding = _text(value)
    return {"event_id": event_id, "at": at, "stage": f"sink:{topic}", "cause": str(error)[:4000],
            "error_type": type(error).__name__, "topic": topic, "partition": partition, "offset": offset,
            "key": _text(key)[0], "payload": payload, "payload_encoding": encoding, "raw_ref": ""}


def _text(value: bytes | None) -> tuple[str, str]:
    if value is None:
        return "", "utf-8"
    try:
        return value.decode(), "utf-8"
    except UnicodeDecodeError:
        import base64
        return base64.b64encode(value).decode(), "base64"


BUILDERS: dict[TopicSpec, Builder] = {ROUTED: routed, LIFECYCLE: lifecycle, SLA: sla, ESCALATIONS: escalation,
                                      UPSELL: upsell, UPSELL_OUTCOMES: upsell_outcome, OUTBOUND: outbound, ALERTS: alert,
                                      DEADLETTER: deadletter, REPLAY_REPORTS: replay_report}
