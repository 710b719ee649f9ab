"""One contact, one customer state -> every verdict with its reason (and the new state)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schemas.contact import ContactEvent, ContactKind
from schemas.escalation import Escalation
from schemas.routed import DedupVerdict, RoutedContact, UpsellVerdict
from schemas.upsell import UpsellLead

from ..rules.loader import RuleFiles, load_rule_files
from .cases import Case, CustomerState, match_case
from .classify import Classifier
from .outbound import reply_address
from .priority import PriorityTable, segment_of
from .route import RuleTable
from .text import shingles, sketch
from .upsell import UpsellDetector


@dataclass(slots=True)
class Outcome:
    """``routed`` is None for an exact re-delivery (already decided: nothing to send again)."""

    routed: RoutedContact | None
    escalation: Escalation | None = None
    lead: UpsellLead | None = None


class Decider:
    """Rules compiled once at start-up; ``decide`` does per-contact work only."""

    def __init__(self, rules: RuleFiles) -> None:
        self.rules = rules
        self.version = rules.version
        self.upsell = UpsellDetector(rules.upsell)
        self.classifier = Classifier(rules.taxonomy, extra=[self.upsell.keywords()])  # one text scan for both
        self.order_ref = re.compile(rules.dedup.order_ref_pattern)
        self.priorities = PriorityTable(rules.routing)
        self.rule_table = RuleTable(rules.routing)

    @classmethod
    def load(cls, folder: Path | None = None) -> Decider:
        return cls(load_rule_files(folder))

    def decide(self, event: ContactEvent, customer_key: str, state: CustomerState, identity: str) -> Outcome:
        contact = event.data
        now = contact.received_at.timestamp()
        if event.id in state.seen:
            return Outcome(None)
        state.seen[event.id] = now
        if contact.kind != ContactKind.MESSAGE:
            return Outcome(RoutedContact(
                contact_id=event.id, contact=contact, customer_key=customer_key, case_id="",
                dedup=DedupVerdict.NOT_A_CONTACT, dedup_reason=f"{contact.kind.value}: recorded, opens no case",
                category="other", priority=5, priority_reason="not a customer contact: lowest priority",
                routing_reason="not routed: not a customer contact", upsell_reason="not a customer contact",
                rules_version=self.version))
        c = self.classifier.classify(contact)
        segment, segment_reason = segment_of(contact, self.rules.routing, state.segment)
        if segment != self.rules.routing.default_segment:
            state.segment = segment
        prio = self.priorities.of(contact, c, segment)
        refs = sorted({*(o.lower() for o in contact.customer.order_numbers), *self.order_ref.findall(c.text)})
        text_sketch = sketch(shingles(c.text), self.rules.dedup.sketch_size)
        m = match_case(state, contact, c.text, c.category, refs, text_sketch, now, self.rules.dedup)
        rule, up = self.rule_table.decide(contact, c, segment, prio.value)
        case = m.case
        if case is None:
            case = Case(id=state.new_case_id(customer_key), opened_at=now, last_at=now,
                        last_channel=contact.channel.value, category=c.category, severity=c.severity,
                        queue=rule.queue, tier=rule.tier, refs=refs, sketch=text_sketch)
            state.cases[case.id] = case
            routing_reason = f"rule {rule.name} -> {rule.queue} tier {rule.tier}"
        else:
            if m.verdict == DedupVerdict.REPEAT:
                case.repeats += 1
            case.contacts += 1
            case.status = "open"
            case.last_at = max(case.last_at, now)
            case.last_channel = contact.channel.value
            case.severity = max(case.severity, c.severity)
            case.refs = sorted({*case.refs, *refs})
            case.sketch = sketch([*case.sketch, *text_sketch], self.rules.dedup.sketch_size)
            owner = f"agent {case.owner}, " if case.owner else ""
            routing_reason = (f"{m.verdict.value}: back to the case owner ({owner}{case.queue} tier {case.tier}), "
                              f"first-contact responsibility; rules alone would give {rule.name} -> {rule.queue}")
        if contact.thread and contact.thread.message_id:
            state.msgids[contact.thread.message_id] = case.id
        if (address := reply_address(contact)) is not None:
            case.reply_to = [contact.channel.value, address[0].value, address[1], event.id, contact.language or ""]
        esc = None
        if up is not None and up.tier > case.tier:
            esc = Escalation(case_id=case.id, from_tier=case.tier, to_tier=up.tier, queue=up.queue, trigger="rule",
                             reason=f"rule {up.name}: severity {c.severity}, cues {sorted(c.cues) or 'none'}")
            case.tier, case.queue = up.tier, up.queue
            routing_reason += f"; escalated by rule {up.name} to {up.queue} tier {up.tier}"
        cue = self.upsell.detect(c, state.open_severity(), c.extra_hits[0])
        state.prune(now, self.rules.dedup)
        # validated construction on purpose: pydantic's model_construct is slower here (a Python loop over fields)
        routed = RoutedContact(
            contact_id=event.id, contact=contact, customer_key=customer_key, case_id=case.id, dedup=m.verdict,
            dedup_reason=f"{identity}; {m.reason}", category=c.category, phase=c.phase, severity=c.severity,
            sentiment=c.sentiment, priority=prio.value,
            priority_reason=f"{prio.reason}; category {c.category_reason}; severity {c.severity_reason}; "
                            f"sentiment {c.sentiment_reason}; segment {segment_reason}",
            segment=segment, queue=case.queue, tier=case.tier, routing_reason=routing_reason,
            upsell=cue.verdict, upsell_reason=cue.reason, rules_version=self.version)
        lead = None
        if cue.verdict == UpsellVerdict.LEAD and cue.kind is not None:
            lead = UpsellLead(case_id=case.id, contact_id=event.id, customer_key=customer_key, kind=cue.kind,
                              score=cue.score, evidence=cue.evidence, rule=cue.rule, channel=contact.channel.value,
                              queue=case.queue, segment=segment, rules_version=self.version)
        return Outcome(routed, esc, lead)
