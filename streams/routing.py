"""Faust wiring of contact routing: CONTACTS -> customer cases -> ROUTED, ESCALATIONS, UPSELL, OUTBOUND
(and each routed contact as a command for the SLA clocks, :mod:`streams.sla.commands`).

* ``route_ingress`` (CONTACTS, any producer's partitioner): decode, dead-letter what is
  undecodable, send the contact to the internal ``<app>-customers`` topic keyed by the
  customer key of its strongest identifier.
* ``route_cases`` (``<app>-customers``, keyed by customer key): the identity union-find
  (:mod:`streams.identity`: follow forward pointers, merge the customers one contact links),
  then the decision against the customer's cases (``customers`` table) with
  :class:`streams.decide.decider.Decider` (a new case's acknowledgement request goes to OUTBOUND,
  :mod:`streams.decide.outbound`); also applies lifecycle and escalation events (a case's closing
  asks for its satisfaction survey on OUTBOUND), which ``route_lifecycle`` / ``route_escalations``
  re-key from case id to customer key (case ids embed their customer key), and recalls, which
  ``route_recalls`` (RECALLS) sends to the recalled order's key: its pointers lead to the customer
  who quoted it, who gets a recall notice on OUTBOUND.

The internal topic is produced with Kafka's murmur2 partitioner and the table places keys
with the same function (:mod:`streams.tables`), so state and the messages about it share
a partition even though batches mix keys. Per batch: decide against an in-memory overlay,
send every output and wait for Kafka's acks, *then* write the table; a crash in between
re-runs the batch, and the per-customer ``seen`` ids turn the re-run contact into a counted
re-delivery rather than a second routed event.

Value layout on the internal topic: one kind byte (``C`` contact, ``L`` lifecycle,
``E`` escalation, ``R`` recall), a one-line JSON header (at least ``{"key": ...}``), a newline,
the original event bytes, so the contact is never re-encoded on the way.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from schemas.contact import ContactEvent
from schemas.deadletter import DeadLetter, DeadLetterEvent
from schemas.envelope import stable_event_id
from schemas.escalation import EscalationEvent
from schemas.lifecycle import LifecycleEvent
from schemas.outbound import Outbound, OutboundEvent
from schemas.routed import DedupVerdict, RoutedContactEvent
from schemas.recall import RecallEvent
from schemas.topics import CONTACTS, DEADLETTER, ESCALATIONS, LIFECYCLE, OUTBOUND, RECALLS, ROUTED, UPSELL
from schemas.upsell import UpsellLeadEvent

from . import metrics
from .app import app, settings, table, topic
from .delivery import Outbox, batches
from .decide.cases import CLOSED, CustomerState, apply_lifecycle, customer_of_case
from .decide.decider import Decider, Outcome
from .decide.outbound import acknowledgement, recall_notice, survey
from .identity import Walk, first_hop, order_key
from .packing import packed
from .sla.clock import ROUTED_COMMAND
from .sla.commands import commands as sla_commands
from .sla.metrics import DEAD_LETTERS, expose

log = logging.getLogger(__name__)
SOURCE = "/streams/routing"
EMPTY_STATE = CustomerState().encode()
PARTITIONS = 4

decider = Decider.load(settings.rules_dir)  # a bad rules file stops the worker here, naming file and line
log.info("routing rules %s loaded", decider.version)

contacts_topic = topic(CONTACTS)
lifecycle_topic = topic(LIFECYCLE)
escalations_topic = topic(ESCALATIONS)
recalls_topic = topic(RECALLS)
routed_topic = topic(ROUTED)
upsell_topic = topic(UPSELL)
outbound_topic = topic(OUTBOUND)
deadletter_topic = topic(DEADLETTER)
customer_topic = packed(app.topic(f"{app.conf.id}-customers", internal=True, partitions=PARTITIONS,
                                  key_type=bytes, value_type=bytes))
tally = metrics.Tally()  # flushed by route_cases once per batch
customers = table("customers", PARTITIONS,
                  help="customer key -> JSON CustomerState: cases, seen contact ids, Message-IDs")
expose(app)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    header, _, payload = raw.partition(b"\n")
    return header, payload


def dead_letter(agent: str, raw: bytes | None, exc: BaseException | str) -> bytes:
    """The dead-letter event for ``raw`` (counted here; the caller adds it to its outbox)."""
    DEAD_LETTERS.labels(agent).inc()
    cause = str(exc) if isinstance(exc, BaseException) else exc
    letter = DeadLetter(stage=f"agent:{agent}", cause=cause[:2000] or type(exc).__name__,
                        error_type=type(exc).__name__ if isinstance(exc, BaseException) else "Rejected",
                        payload=(raw or b"").decode("utf-8", "replace"))
    return DeadLetterEvent(source=SOURCE, data=letter).encode()


async def _to_customer(out: Outbox, kind: bytes, key: str, header: bytes, payload: bytes) -> None:
    await out.add(customer_topic, key.encode(), kind + header + b"\n" + payload)


@app.agent(contacts_topic)
async def route_ingress(stream):  # noqa: ANN001 - Faust stream
    async for batch in batches(stream):
        out = Outbox()
        for raw in batch:
            try:
                key, value = first_hop(raw)
            except Exception as exc:  # noqa: BLE001 - anything undecodable is dead-lettered with its cause
                await out.add(deadletter_topic, None, dead_letter("route_ingress", raw, exc))
                continue
            await out.add(customer_topic, key, value)
        await out.flush()


async def _publish(out: Outbox, outcome: Outcome, case_id: str) -> None:
    routed = outcome.routed
    assert routed is not None
    event = RoutedContactEvent(id=stable_event_id("routed", routed.contact_id), source=SOURCE,
                               subject=case_id or None, data=routed)
    encoded = event.encode()
    await out.add(routed_topic, routed.customer_key.encode(), encoded)
    if case_id:  # not-a-contact events have none and start no clock
        await out.add(sla_commands, case_id.encode(), ROUTED_COMMAND + encoded)
    channel = routed.contact.channel.value
    tally.inc(metrics.CONTACTS, routed.dedup.value, channel)
    if routed.dedup == DedupVerdict.REPEAT:
        tally.inc(metrics.REPEATS, channel, routed.queue)
    tally.inc(metrics.UPSELL, routed.upsell.value)
    if outcome.escalation is not None:
        esc = EscalationEvent(id=stable_event_id("escalation", routed.contact_id), source=SOURCE, subject=case_id,
                              data=outcome.escalation)
        await out.add(escalations_topic, case_id.encode(), esc.encode())
        tally.inc(metrics.ESCALATIONS, outcome.escalation.queue, str(outcome.escalation.to_tier))
    await _ask(out, acknowledgement(routed, settings.acknowledge_channels), stable_event_id("ack", routed.contact_id))
    if outcome.lead is not None:
        lead = UpsellLeadEvent(id=stable_event_id("upsell", routed.contact_id), source=SOURCE, subject=case_id,
                               data=outcome.lead)
        await out.add(upsell_topic, routed.customer_key.encode(), lead.encode())


async def _ask(out: Outbox, message: Outbound | None, event_id: str) -> None:
    """Request ``message`` on OUTBOUND (keyed by case id), if there is one."""
    if message is None:
        return
    request = OutboundEvent(id=event_id, source=SOURCE, subject=message.case_id, data=message)
    await out.add(outbound_topic, message.case_id.encode(), request.encode())
    tally.inc(metrics.OUTBOUND, message.kind.value, message.channel.value)


@app.agent(customer_topic)
async def route_cases(stream):  # noqa: ANN001
    async for batch in batches(stream):
        overlay: dict[str, CustomerState] = {}
        stored: dict[str, bytes | None] = {}
        out = Outbox()

        def state_of(key: str) -> CustomerState:
            if key not in overlay:
                stored[key] = customers.get(key.encode())
                overlay[key] = CustomerState.decode(stored[key])
            return overlay[key]

        for raw in batch:
            kind, (header, payload) = raw[:1], _split(raw[1:])
            try:
                if kind == b"C":
                    await _contact(out, header, payload, state_of, overlay)
                else:
                    await _case_update(out, kind, header, payload, state_of)
            except Exception as exc:  # noqa: BLE001 - a poison message must not stop the partition
                log.exception("route_cases: dead-lettering a message")
                await out.add(deadletter_topic, None, dead_letter("route_cases", payload, exc))
                try:  # the decision may have half-changed this customer's state: reload it from the table
                    overlay.pop(orjson.loads(header)["key"], None)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    pass  # not even a header: no state was touched
        await out.flush()  # every output acknowledged before the state is written
        for key, state in overlay.items():
            encoded = state.encode()
            # a key a contact only passed through keeps its changelog record; one nothing was known of
            # (a lifecycle event for an unknown case, a recall of an unknown order) gets none
            if encoded != (stored[key] or EMPTY_STATE):
                await out.put(customers, key.encode(), encoded)
        await out.flush()
        tally.flush()


async def _contact(out: Outbox, header: bytes, payload: bytes, state_of: Any, overlay: dict[str, CustomerState]) -> None:
    walk = Walk.decode(header)
    key = walk.key
    state = state_of(key)
    decide_here, replaced = walk.hop(state)
    if replaced is not None:
        overlay[key] = replaced
        if state.forward is None:  # a merge, not a merged key re-pointed along the walk's route
            tally.inc(metrics.MERGES)
    if not decide_here:
        tally.inc(metrics.HOPS)
        await _to_customer(out, b"C", walk.key, walk.encode(), payload)
        return
    event = ContactEvent.decode(payload)
    outcome = decider.decide(event, key, state, walk.reason())
    if outcome.routed is None:
        tally.inc(metrics.REDELIVERIES, event.data.channel.value)
        return
    await _publish(out, outcome, outcome.routed.case_id)


async def _case_update(out: Outbox, kind: bytes, header: bytes, payload: bytes, state_of: Any) -> None:
    key = orjson.loads(header)["key"]
    state = state_of(key)
    if state.forward is not None:
        await _to_customer(out, kind, state.forward, orjson.dumps({"key": state.forward}), payload)
        return
    if kind not in (b"L", b"E", b"R"):
        raise ValueError(f"unknown customer message kind {kind!r}")
    if kind == b"R":
        recall = RecallEvent.decode(payload)
        notice = recall_notice(state, recall.data)
        tally.inc(metrics.RECALLS, "requested" if notice else "no_address" if state.cases else "unknown_order")
        await _ask(out, notice, stable_event_id("recall", recall.id))
        return
    if kind == b"L":
        event = LifecycleEvent.decode(payload)
        case = state.cases.get(event.data.case_id)
        was_closed = case is not None and case.status == CLOSED
        if not apply_lifecycle(state, event.data):
            await out.add(deadletter_topic, None,
                          dead_letter("route_cases", payload, f"lifecycle for unknown case {event.data.case_id}"))
            return
        tally.inc(metrics.CASE_UPDATES, f"lifecycle:{event.data.action.value}")
        if case is not None and case.status == CLOSED and not was_closed:  # a re-delivered 'closed' asks nothing
            await _ask(out, survey(case, settings.survey_channels), stable_event_id("survey", event.id))
        return
    esc = EscalationEvent.decode(payload).data
    case = state.cases.get(esc.case_id)
    if case is None:
        await out.add(deadletter_topic, None, dead_letter("route_cases", payload, f"escalation for unknown case {esc.case_id}"))
        return
    if esc.to_tier > case.tier:  # only a raise applies: a replayed or own (already applied) one changes nothing
        case.tier, case.queue = esc.to_tier, esc.queue
    tally.inc(metrics.CASE_UPDATES, f"escalation:{esc.trigger}")


class Rejected(Exception):
    """A well-formed record that names nothing this agent can route (dead-lettered as ``Rejected``)."""


def _customer_of_case(case_id: str) -> str:
    customer = customer_of_case(case_id)
    if customer is None:
        raise Rejected(f"case id {case_id!r} was not issued by the routing agents")
    return customer


async def _rekey(stream: Any, agent: str, kind: bytes, customer_of: Callable[[bytes], str]) -> None:
    """Each record to the customer key ``customer_of`` finds for it (on the internal topic, where
    ``route_cases`` follows that key's pointers); one it finds none for is dead-lettered with the cause."""
    async for batch in batches(stream):
        out = Outbox()
        for raw in batch:
            try:
                key = customer_of(raw)
            except Exception as exc:  # noqa: BLE001
                await out.add(deadletter_topic, None, dead_letter(agent, raw, exc))
                continue
            await _to_customer(out, kind, key, orjson.dumps({"key": key}), raw)
        await out.flush()


@app.agent(lifecycle_topic)
async def route_lifecycle(stream):  # noqa: ANN001
    await _rekey(stream, "route_lifecycle", b"L", lambda raw: _customer_of_case(LifecycleEvent.decode(raw).data.case_id))


@app.agent(escalations_topic)
async def route_escalations(stream):  # noqa: ANN001
    await _rekey(stream, "route_escalations", b"E",
                 lambda raw: _customer_of_case(EscalationEvent.decode(raw).data.case_id))


@app.agent(recalls_topic)
async def route_recalls(stream):  # noqa: ANN001
    """A recalled order goes to its order key, whose pointers lead to the customer who quoted it."""
    await _rekey(stream, "route_recalls", b"R", lambda raw: order_key(RecallEvent.decode(raw).data.order_number))
