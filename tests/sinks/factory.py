"""A generated, seeded data set of every event type the sink stores, relative to 'now'.

Covers what the KPIs must get right: repeats, complaints, abandoned calls, auto-replies,
cases opened yesterday, cases closed with and without a resolution, escalations moving a case's
queue, surveys (CSAT and NPS), upsell results (none, one, or a lead reported twice; one for a lead
the sink never saw), contacts of earlier days (the forecast's history, with days missing), SLA
warnings and breaches inside and outside the last 15 minutes, and upstream duplicates (the same
event twice).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from schemas import (Alert, AlertEvent, AlertStatus, CallDetails, Channel, Contact, DeadLetter, DeadLetterEvent,
                     DedupVerdict, Escalation, EscalationEvent, Identifiers, Lifecycle, LifecycleAction,
                     LifecycleEvent, Outbound, OutboundEvent, OutboundKind, RoutedContact, RoutedContactEvent, Sla,
                     SlaClock, SlaEvent, SlaStatus, UpsellKind, UpsellLead, UpsellLeadEvent, UpsellOutcome,
                     UpsellOutcomeEvent, UpsellResult, stable_event_id)
from schemas.envelope import Envelope
from schemas.replay import QueueComparison, ReplayReport, ReplayReportEvent, SlaFigures

QUEUES = ("general", "after_sales", "complaints", "logistics")
CHANNELS = tuple(Channel)


@dataclass
class DataSet:
    events: list[Envelope] = field(default_factory=list)

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]


def routed_contact(*, channel: Channel = Channel.WEBFORM, message_id: str, received_at: datetime, queue: str = "general",
                   case_id: str | None = None, dedup: DedupVerdict = DedupVerdict.NEW_CASE, category: str = "other",
                   call: CallDetails | None = None, phone: str | None = "+8613812345678",
                   email: str | None = "li.lei@example.com", routed_at: datetime | None = None) -> RoutedContactEvent:
    contact_id = stable_event_id(str(channel), message_id)
    contact = Contact(channel=channel, provider=str(channel), provider_message_id=message_id, received_at=received_at,
                      customer=Identifiers(phone=phone, email=email, name="李雷", order_numbers=["SO123456789"]),
                      subject="订单问题", body=f"message {message_id}", language="zh", call=call)
    return RoutedContactEvent(
        source="/tests/streams", time=routed_at or received_at + timedelta(milliseconds=5),
        id=stable_event_id("routed", contact_id),
        data=RoutedContact(contact_id=contact_id, contact=contact, customer_key=f"phone:{phone}",
                           case_id=case_id or f"case-{contact_id[:12]}", dedup=dedup, category=category, queue=queue,
                           severity=2 if category == "complaint" else 0))


def generate(now: datetime | None = None, cases: int = 120, seed: int = 7) -> DataSet:
    rng = random.Random(seed)  # which events exist: never drawn from the clock's span, so any 'now' gives the same set
    timing = random.Random(seed)  # when they happen: how many bits a draw takes depends on 'now'
    now = (now or datetime.now(timezone.utc)).replace(microsecond=timing.randrange(0, 1000) * 1000)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ds = DataSet()
    used: set[datetime] = set()

    def when(start: datetime, end: datetime) -> datetime:
        """Distinct millisecond timestamps: argMin/argMax never see ties. A span too short for another
        distinct value (just after midnight, 'today' is a few ms long) grows past its end."""
        span = max(1, int((end - start).total_seconds() * 1000))
        while (at := start + timedelta(milliseconds=timing.randrange(span))) in used:
            span += 1
        used.add(at)
        return at

    for n in range(cases):
        channel = rng.choice(CHANNELS)
        queue = rng.choice(QUEUES)
        category = rng.choice(["complaint", "order", "logistics", "consultation", "return"])
        yesterday = rng.random() < 0.2
        opened = when(day - timedelta(hours=20), day) if yesterday else when(day, now - timedelta(seconds=30))
        call = None
        if channel is Channel.PHONE:
            call = CallDetails(call_id=f"call-{n}", outcome=rng.choice(["answered", "abandoned", "completed"]))
        first = routed_contact(channel=channel, message_id=f"m{n}", received_at=opened, queue=queue, category=category,
                               call=call)
        case_id = first.data.case_id
        ds.events.append(first)
        if channel in (Channel.EMAIL, Channel.SMS):  # the routing agents' acknowledgement request
            ds.events.append(OutboundEvent(source="/tests/streams", time=opened, id=f"ack-{n}", subject=case_id,
                                           data=Outbound(kind=OutboundKind.ACKNOWLEDGEMENT, template="case_received",
                                                         case_id=case_id,
                                                         contact_id=first.data.contact_id, channel=channel,
                                                         to=first.data.contact.customer.email if channel is Channel.EMAIL
                                                         else first.data.contact.customer.phone)))
        if rng.random() < 0.1 or n == 0:  # at least one, whatever the seed
            ds.events.append(first)  # upstream duplicate: same routed event delivered twice
        for r in range(rng.choice([0, 0, 0, 1, 2])):  # repeat contacts on the same case
            at = when(opened, now)
            ds.events.append(routed_contact(channel=rng.choice(CHANNELS), message_id=f"m{n}r{r}", received_at=at,
                                            queue=queue, case_id=case_id, dedup=DedupVerdict.REPEAT, category=category))
        sla_common = dict(case_id=case_id, started_at=opened, deadline=opened + timedelta(minutes=15), target_seconds=900,
                          queue=queue, channel=str(channel), category=category)
        fate = rng.random()
        if fate < 0.35:
            continue  # still waiting
        fr_at = when(opened, now)
        ds.events.append(lifecycle(case_id, LifecycleAction.FIRST_RESPONSE, fr_at, queue=None))
        late = (fr_at - opened) > timedelta(minutes=15)
        if late:
            ds.events.append(sla_event(SlaStatus.WARNING, when(opened, fr_at), fraction=0.75, **sla_common))
            ds.events.append(sla_event(SlaStatus.BREACHED, when(opened, fr_at), **sla_common))
        ds.events.append(sla_event(SlaStatus.STOPPED_LATE if late else SlaStatus.MET, fr_at, **sla_common))
        if rng.random() < 0.25:
            new_queue = rng.choice(QUEUES)
            ds.events.append(EscalationEvent(source="/tests", time=when(opened, now), id=f"esc-{n}",
                                             data=Escalation(case_id=case_id, from_tier=1, to_tier=2, queue=new_queue,
                                                             reason="rule", trigger="rule")))
        if fate < 0.7:
            if rng.random() < 0.3:  # closed without a resolution (the customer never answered)
                ds.events.append(lifecycle(case_id, LifecycleAction.CLOSED, when(fr_at, now)))
            continue
        resolved = when(fr_at, now)
        ds.events.append(lifecycle(case_id, LifecycleAction.RESOLVED, resolved))
        if rng.random() < 0.7:
            ds.events.append(lifecycle(case_id, LifecycleAction.CLOSED, when(resolved, now)))
        if rng.random() < 0.6:  # a survey: CSAT, NPS or both; some customers answer the NPS question again later
            surveyed = when(resolved, now + timedelta(seconds=1))
            kind = rng.random()
            ds.events.append(lifecycle(case_id, LifecycleAction.SURVEY_ANSWERED, surveyed,
                                       csat=rng.randrange(40, 101) if kind < 0.8 else None,
                                       nps=rng.randrange(0, 11) if kind > 0.3 else None))
            if kind > 0.9:
                ds.events.append(lifecycle(case_id, LifecycleAction.SURVEY_ANSWERED, when(surveyed, now + timedelta(seconds=2)),
                                           nps=rng.randrange(0, 11)))
        if rng.random() < 0.3:
            lead_at = when(opened, now)
            ds.events.append(UpsellLeadEvent(source="/tests", time=lead_at, id=f"lead-{n}", data=UpsellLead(
                case_id=case_id, contact_id=first.data.contact_id, customer_key=first.data.customer_key,
                kind=UpsellKind.UPGRADE, score=0.8, evidence="warranty ends soon", rule="warranty", channel=str(channel),
                queue=queue)))
            # sales' results: some leads none yet, some one, some declined then bought after all (latest counts)
            for _ in range(rng.choice([0, 1, 1, 2])):
                ds.events.append(upsell_outcome(f"lead-{n}", rng.choice(list(UpsellResult)), when(lead_at, now)))
                if rng.random() < 0.1:
                    ds.events.append(ds.events[-1])  # upstream duplicate
    for back in (1, 2, 3, 4, 6, 9):  # earlier days' volume (none 5 and 7 days back; 9 is beyond the forecast's week)
        for h in range(rng.randrange(3, 9)):
            at = when(day - timedelta(days=back), day - timedelta(days=back - 1))
            past = routed_contact(channel=rng.choice(CHANNELS), message_id=f"d{back}h{h}", received_at=at,
                                  queue=rng.choice(QUEUES))
            ds.events.append(past)
            ds.events.append(lifecycle(past.data.case_id, LifecycleAction.RESOLVED, at + timedelta(minutes=30)))
    ds.events.append(routed_contact(channel=Channel.EMAIL, message_id="autoreply", received_at=when(day, now),
                                    dedup=DedupVerdict.NOT_A_CONTACT, queue="general"))
    ds.events.append(upsell_outcome("lead-from-another-system", UpsellResult.CONVERTED, when(day, now)))  # no such lead
    ds.events.append(AlertEvent(source="/tests", id="alert-1", data=Alert(
        name="SlaBreachSpike", fingerprint="SlaBreachSpike:general", status=AlertStatus.FIRING, severity="critical",
        labels={"queue": "general"}, figures={"breaches": 5.0}, summary="breaches spiking")))
    ds.events.append(DeadLetterEvent(source="/connectors/webform", id="dl-1", data=DeadLetter(
        stage="connector:webform", cause="bad signature", payload="{}")))
    return ds


def lifecycle(case_id: str, action: LifecycleAction, at: datetime, queue: str | None = None,
              csat: int | None = None, nps: int | None = None) -> LifecycleEvent:
    return LifecycleEvent(source="/tests/desk", time=at, id=stable_event_id("lc", case_id, str(action), at.isoformat()),
                          data=Lifecycle(case_id=case_id, action=action, at=at, queue=queue, csat=csat, nps=nps))


def upsell_outcome(lead_id: str, result: UpsellResult, at: datetime) -> UpsellOutcomeEvent:
    return UpsellOutcomeEvent(source="/tests/sales", time=at, id=stable_event_id("outcome", lead_id, at.isoformat()),
                              data=UpsellOutcome(lead_id=lead_id, result=result, at=at,
                                                 amount=199.0 if result == UpsellResult.CONVERTED else None,
                                                 currency="CNY" if result == UpsellResult.CONVERTED else None,
                                                 agent="sales-1"))


def sla_event(status: SlaStatus, at: datetime, *, fraction: float | None = None, **common: object) -> SlaEvent:
    return SlaEvent(source="/tests/sla", time=at, id=stable_event_id("sla", str(common["case_id"]), str(status), at.isoformat()),
                    data=Sla(clock=SlaClock.FIRST_RESPONSE, status=status, at=at, fraction=fraction, **common))


def replay_report(run_id: str, generated: datetime, replay_breached: int) -> ReplayReportEvent:
    """A what-if run over 8 contacts: 4 breached live, ``replay_breached`` replayed (and escalated as many)."""
    live = SlaFigures(clocks=8, met=4, breached=4, warnings=8, attainment=50.0)
    strict = SlaFigures(clocks=8, met=8 - replay_breached, breached=replay_breached, warnings=16,
                        attainment=round(100.0 * (8 - replay_breached) / 8, 2))
    data = ReplayReport(
        run_id=run_id, range_from=generated - timedelta(hours=1), range_to=generated, generated_at=generated, complete=True,
        contacts=8, lifecycle=4, live_rules_version="r1#abc", replay_rules_version="r1#abc", live_sla_policy="presets",
        replay_sla_policy="strict", compared=8, queue_changes=1, category_changes=0, priority_changes=0,
        dedup_changes=0, transitions={"queue:general->logistics": 1}, live=live, replay=strict, live_leads=2,
        replay_leads=2, leads_gained=0, leads_lost=0, live_escalations=4, replay_escalations=replay_breached,
        queues=[QueueComparison(queue="general", live=live, replay=strict, live_contacts=8, replay_contacts=7,
                                live_leads=2, replay_leads=2)])
    return ReplayReportEvent(source="/tests", subject=run_id, data=data)
