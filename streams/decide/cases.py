"""Per-customer state and the case decision: thread reply, follow-up, repeat contact or new case.

All of a customer's cases live in one record keyed by customer key, so deciding whether
a contact joins an open case needs no cross-partition lookup. Time is the contact's
``received_at`` (event time), so replaying a topic gives the same verdicts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.contact import Contact
from schemas.lifecycle import Lifecycle, LifecycleAction
from schemas.routed import DedupVerdict

from ..rules.models import Dedup
from .text import similarity

CASE_ID = re.compile(r"^(cus-[0-9a-f]{16})-\d{4,}$")
# Customer keys remembered as merged into a root: only a shortcut for contacts whose identifiers
# are all known there (streams.identity); a key that fell off takes the full walk, as before.
MEMBERS_KEPT = 64
OPEN, WAITING, RESOLVED, CLOSED = "open", "waiting", "resolved", "closed"


@dataclass(slots=True)
class Case:
    id: str
    opened_at: float
    last_at: float
    last_channel: str
    category: str
    queue: str
    status: str = OPEN
    severity: int = 0
    tier: int = 1
    owner: str | None = None
    refs: list[str] = field(default_factory=list)
    sketch: list[int] = field(default_factory=list)
    contacts: int = 1
    repeats: int = 0
    # where to answer (the case's latest contact that could be answered privately), for the survey
    # on closing and recall notices: [channel it came in on, channel to answer on, address, contact id,
    # language or ""]
    reply_to: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """Field order and omitted defaults of the former pydantic ``model_dump(exclude_defaults=True)``."""
        d: dict[str, Any] = {"id": self.id}
        if self.status != OPEN:
            d["status"] = self.status
        d["opened_at"], d["last_at"] = self.opened_at, self.last_at
        d["last_channel"], d["category"] = self.last_channel, self.category
        if self.severity:
            d["severity"] = self.severity
        d["queue"] = self.queue
        if self.tier != 1:
            d["tier"] = self.tier
        if self.owner is not None:
            d["owner"] = self.owner
        if self.refs:
            d["refs"] = self.refs
        if self.sketch:
            d["sketch"] = self.sketch
        if self.contacts != 1:
            d["contacts"] = self.contacts
        if self.repeats:
            d["repeats"] = self.repeats
        if self.reply_to is not None:
            d["reply_to"] = self.reply_to
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Case:
        try:
            case = cls(**d)
        except TypeError:  # a field this version does not know (ignored, as before) or one missing
            case = cls(**{k: v for k, v in d.items() if k in _CASE_FIELDS})
        if type(case.opened_at) is not float or type(case.last_at) is not float:  # noqa: E721 - exact type check
            case.opened_at, case.last_at = float(case.opened_at), float(case.last_at)
        return case


_CASE_FIELDS = frozenset(Case.__dataclass_fields__)


@dataclass(slots=True)
class CustomerState:
    """``forward`` is set once this key was merged into another (union-find parent pointer).

    A plain slotted dataclass encoded with orjson, not a pydantic model: it is decoded and
    encoded once per customer per batch, and the table only holds what this module wrote.
    The JSON is byte-identical to the former ``model_dump_json(exclude_defaults=True)``.
    """

    forward: str | None = None
    seq: int = 0
    segment: str | None = None
    seen: dict[str, float] = field(default_factory=dict)      # contact id -> received_at
    cases: dict[str, Case] = field(default_factory=dict)
    msgids: dict[str, str] = field(default_factory=dict)     # email Message-ID -> case id
    members: list[str] = field(default_factory=list)         # keys merged into this one, latest last (bounded)

    def encode(self) -> bytes:
        d: dict[str, Any] = {}
        if self.forward is not None:
            d["forward"] = self.forward
        if self.seq:
            d["seq"] = self.seq
        if self.segment is not None:
            d["segment"] = self.segment
        if self.seen:
            d["seen"] = self.seen
        if self.cases:
            d["cases"] = {cid: case.to_json() for cid, case in self.cases.items()}
        if self.msgids:
            d["msgids"] = self.msgids
        if self.members:
            d["members"] = self.members
        # copied: orjson over-allocates its output buffer, and the table keeps every value
        return bytes(memoryview(orjson.dumps(d)))

    @classmethod
    def decode(cls, raw: bytes | None) -> CustomerState:
        if raw is None:
            return cls()
        d = orjson.loads(raw)
        if not isinstance(d, dict):
            raise ValueError(f"customer state must be a JSON object, not {type(d).__name__}")
        seen = d.get("seen") or {}
        if any(type(v) is not float for v in seen.values()):  # noqa: E721 - written by hand: coerce like pydantic did
            seen = {k: float(v) for k, v in seen.items()}
        return cls(d.get("forward"), d.get("seq", 0), d.get("segment"), seen,
                   {cid: Case.from_json(c) for cid, c in (d.get("cases") or {}).items()}, d.get("msgids") or {},
                   d.get("members") or [])

    def absorb(self, other: CustomerState) -> None:
        """Union of two customers' memories (identity merge)."""
        self.cases.update(other.cases)
        self.msgids.update(other.msgids)
        for cid, at in other.seen.items():
            self.seen.setdefault(cid, at)
        if other.segment and not self.segment:
            self.segment = other.segment
        self.members = list(dict.fromkeys(self.members + other.members))[-MEMBERS_KEPT:]

    def new_case_id(self, customer_key: str) -> str:
        self.seq += 1
        return f"{customer_key}-{self.seq:04d}"

    def open_severity(self) -> int:
        return max((c.severity for c in self.cases.values() if c.status != CLOSED), default=0)

    def prune(self, now: float, rules: Dedup) -> None:
        """Keep the memory bounded: seen ids by age and count, cases by age, closed cases by count.

        Runs per contact, and usually nothing is due: each part checks that first (C-level
        ``min`` / ``sum``) and only rebuilds when something goes.
        """
        horizon = now - rules.seen_hours * 3600
        seen = self.seen
        if len(seen) > rules.seen_contacts or (seen and min(seen.values()) < horizon):
            kept = [(cid, at) for cid, at in seen.items() if at >= horizon]
            self.seen = dict(kept[-rules.seen_contacts:])
        memory = now - rules.case_memory_days * 86400
        cases = self.cases
        if any(c.last_at < memory for c in cases.values()):
            cases = {cid: c for cid, c in cases.items() if c.last_at >= memory}
        if sum(c.status == CLOSED for c in cases.values()) > rules.closed_cases_kept:
            closed = [cid for cid, c in cases.items() if c.status == CLOSED]
            cases = dict(cases)
            for cid in closed[:len(closed) - rules.closed_cases_kept]:
                del cases[cid]
        self.cases = cases
        if len(self.msgids) > rules.message_ids or any(v not in cases for v in self.msgids.values()):
            kept_ids = [(m, cid) for m, cid in self.msgids.items() if cid in cases]
            self.msgids = dict(kept_ids[-rules.message_ids:]) if rules.message_ids else {}


def customer_of_case(case_id: str) -> str | None:
    """Case ids embed their customer key, so lifecycle events find their partition without a lookup."""
    m = CASE_ID.match(case_id)
    return m.group(1) if m else None


@dataclass(slots=True)
class Match:
    verdict: DedupVerdict
    case: Case | None
    reason: str


def match_case(state: CustomerState, contact: Contact, text: str, category: str, refs: list[str],
               sketch: list[int], now: float, rules: Dedup) -> Match:
    """Thread first, then a conversation follow-up, then the same issue (references, then text).

    ``text`` is the normalized contact text, ``refs`` the order/ticket references found in it.
    """
    thread = contact.thread
    if thread is not None:
        for mid in (thread.in_reply_to, *reversed(thread.references)):
            case = state.cases.get(state.msgids.get(mid, "")) if mid else None
            if case is not None and case.status != CLOSED:
                return Match(DedupVerdict.THREAD_REPLY, case, f"email thread: {mid} belongs to {case.id}")
    window = now - rules.repeat_window_hours * 3600
    live = sorted((c for c in state.cases.values() if c.status != CLOSED and c.last_at >= window),
                  key=lambda c: c.last_at, reverse=True)
    if not live:
        return Match(DedupVerdict.NEW_CASE, None, "no open case within the repeat window")
    channel = contact.channel.value
    for case in live:
        if (channel in rules.follow_up_channels and case.last_channel == channel
                and 0 <= now - case.last_at <= rules.follow_up_seconds
                and not (refs and case.refs and set(refs).isdisjoint(case.refs))):
            return Match(DedupVerdict.FOLLOW_UP, case,
                         f"{channel} conversation continues {case.id} ({now - case.last_at:.0f}s after its last contact)")
    for case in live:  # a case's reference quoted anywhere in the text counts, with or without "order no."
        if not case.refs:
            continue
        common = sorted({*refs, *(r for r in case.refs if r in text)} & set(case.refs))
        if common:
            return Match(DedupVerdict.REPEAT, case, f"same reference {common[0]} as open case {case.id}{_reopen(case)}")
    best, score, bar = None, 0.0, 1.0
    for case in live:
        s = similarity(sketch, case.sketch, rules.sketch_size)
        threshold = rules.same_category_similarity_threshold if case.category == category else rules.similarity_threshold
        if s >= threshold and s - threshold > score - bar:
            best, score, bar = case, s, threshold
    if best is not None:
        same = " (same category)" if best.category == category else ""
        return Match(DedupVerdict.REPEAT, best, f"text similarity {score:.2f} >= {bar}{same} "
                                                f"with open case {best.id}{_reopen(best)}")
    return Match(DedupVerdict.NEW_CASE, None, "no open case with the same reference or similar text")


def _reopen(case: Case) -> str:
    return " (reopens the resolved case)" if case.status == RESOLVED else ""


_STATUS = {LifecycleAction.WAITING_ON_CUSTOMER: WAITING, LifecycleAction.CUSTOMER_REPLIED: OPEN,
           LifecycleAction.RESOLVED: RESOLVED, LifecycleAction.CLOSED: CLOSED, LifecycleAction.REOPENED: OPEN}


def apply_lifecycle(state: CustomerState, event: Lifecycle) -> bool:
    """Update the case from the service desk; False when this customer has no such case."""
    case = state.cases.get(event.case_id)
    if case is None:
        return False
    case.status = _STATUS.get(event.action, case.status)
    if event.agent and event.action in (LifecycleAction.ASSIGNED, LifecycleAction.FIRST_RESPONSE,
                                        LifecycleAction.RESPONDED, LifecycleAction.ESCALATED):
        case.owner = event.agent
    if event.queue:
        case.queue = event.queue
    if event.tier:
        case.tier = event.tier
    return True
