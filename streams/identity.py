"""Customer identity across channels: a union-find spread over partitioned tables.

Why this design: a contact may carry several identifiers (phone, email, handle, customer
number, order numbers) that live on different partitions, and Faust tables only see
their own partition. So resolution is a walk, one hop per identifier, over an internal
topic keyed by identifier:

1. ``identity`` hops (table: identifier hash -> customer key, keyed by identifier). Each
   hop reads its identifier's key and adds it to the contact's candidate set; a new
   identifier is written pointing at the smallest candidate so far (or its own derived
   key ``cus-<hash>`` when it is the first). Known identifiers are re-pointed at a smaller
   candidate when one is known (path compression).
2. The smallest candidate is the **root**; every other candidate must be merged into it.
   That happens on the customer-keyed case table (see :mod:`streams.routing`): the contact
   visits each other candidate's partition, takes that customer's whole state along and
   leaves a ``forward`` pointer to the root, then lands on the root's partition, which
   absorbs what was carried and decides the contact. Any later message that reaches a
   forwarded key just follows the pointer (lifecycle events of old case ids included).

Union by smallest key keeps every forward pointer pointing at a strictly smaller key, so
concurrent merges on different partitions can never form a cycle, and every walk ends.
Keys are hashes, not phone numbers or addresses: no personal data in keys, case ids or
changelog keys. Auto-replies and bounces skip the walk: they go straight to the key derived
from their first identifier (following forward pointers from there), so they never link
identities and an exact re-delivery always lands where the first copy was recorded.

Exact re-deliveries are recognised at the customer (``seen`` contact ids in its state): a
re-delivered message contact carries the same identifiers, whose table entries only ever
move to keys merged with the one that recorded it, so it always reaches that record.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from schemas.contact import ContactEvent, ContactKind, Identifiers

from .decide.cases import CustomerState


def _hash(identifier: str) -> str:
    return hashlib.blake2b(identifier.encode(), digest_size=8).hexdigest()


def customer_key_for(identifier_hash: str) -> str:
    return f"cus-{identifier_hash}"


def identifiers(customer: Identifiers) -> list[tuple[str, str]]:
    """(hash, kind) of every identifier, strongest first; the order fixes the walk."""
    found: list[tuple[str, str]] = []
    for kind, value in (("customer_number", customer.customer_number), ("phone", customer.phone),
                        ("email", customer.email and customer.email.strip().lower()), ("handle", customer.handle)):
        if value:
            found.append((_hash(f"{kind}:{value}"), kind))
    for order in dict.fromkeys(o.strip().lower() for o in customer.order_numbers if o.strip()):
        found.append((_hash(f"order:{order}"), "order"))
    return list(dict.fromkeys(found))


def anonymous_key(dedup_key: str) -> str:
    """A contact without any identifier is its own customer."""
    return customer_key_for(_hash(f"anonymous:{dedup_key}"))


@dataclass(slots=True)
class Walk:
    """The state a contact carries through the identity hops."""

    todo: list[tuple[str, str]]
    candidates: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)

    def encode(self) -> bytes:
        return orjson.dumps({"todo": self.todo, "candidates": self.candidates, "why": self.why})

    @classmethod
    def decode(cls, raw: bytes) -> Walk:
        d = orjson.loads(raw)
        return cls([tuple(t) for t in d["todo"]], d["candidates"], d["why"])

    def step(self, known: str | None) -> str | None:
        """Visit ``todo[0]`` whose table value is ``known``; returns the value to write there, if any."""
        ident, kind = self.todo.pop(0)
        if known is None:
            first = not self.candidates
            if first:
                self.candidates.append(customer_key_for(ident))
            self.why.append(f"{kind} new" if first else f"{kind} new, linked")
            return min(self.candidates)
        if known not in self.candidates:
            self.candidates.append(known)
        self.why.append(f"{kind} known as {known}")
        root = min(self.candidates)
        return root if root < known else None

    def route(self) -> tuple[str, list[str]]:
        """(root, keys to merge into it) once every identifier was visited."""
        root = min(self.candidates)
        return root, sorted(set(self.candidates) - {root})

    def reason(self) -> str:
        return "identity: " + ", ".join(self.why)


@dataclass(slots=True)
class Merge:
    """What a contact carries on the case topic: where it must end up and what it picks up on the way."""

    key: str                      # the customer key this message is addressed to
    target: str                   # the root it will be decided at
    pending: list[str]            # keys still to merge into the root
    carried: list[bytes]          # customer states picked up from merged keys (encoded)
    why: str

    def encode(self) -> bytes:
        return orjson.dumps({"key": self.key, "target": self.target, "pending": self.pending,
                             "carried": [c.decode() for c in self.carried], "why": self.why})

    @classmethod
    def decode(cls, raw: bytes) -> Merge:
        d = orjson.loads(raw)
        return cls(d["key"], d["target"], d["pending"], [c.encode() for c in d["carried"]], d["why"])

    def next_key(self) -> str:
        """Visit the keys to merge first, the root last."""
        return self.pending[0] if self.pending else self.target

    def follow(self, key: str, forward: str) -> None:
        """``key`` was merged into ``forward`` earlier: go there instead."""
        if key == self.target:
            self.target = forward
        self.pending = [p for p in self.pending if p != key]
        self._add(forward)

    def _add(self, key: str) -> None:
        if key < self.target:
            self.pending.append(self.target)
            self.target = key
        elif key != self.target and key not in self.pending:
            self.pending.append(key)
        self.pending = sorted(set(self.pending) - {self.target})
        self.key = self.next_key()

    def visit_root(self, key: str) -> bool:
        """At a key without forward pointer; True when the contact should be decided here."""
        if key == self.target:
            self.key = self.next_key()
            return not self.pending
        if key < self.target:  # a smaller root turned up: it becomes the target
            self._add(key)
            return False
        return False  # caller moves this key's state into ``carried`` and calls ``merged``

    def merged(self, key: str, state: bytes) -> None:
        self.carried.append(state)
        self.pending = [p for p in self.pending if p != key]
        self.key = self.next_key()


def customer_hop(merge: Merge, state: CustomerState) -> tuple[bool, CustomerState | None]:
    """Advance a contact's walk at ``merge.key``, whose stored state is ``state``.

    Returns (decide here, state to store at this key instead, if any); when not deciding,
    ``merge.key`` is the next customer key to send the contact to.
    """
    key = merge.key
    if state.forward is not None:
        merge.follow(key, state.forward)
        return False, None
    if key > merge.target:  # merged into the target: carry this customer's memory along
        merge.merged(key, state.encode())
        return False, CustomerState(forward=merge.target)
    return merge.visit_root(key), None


def first_hop(raw: bytes) -> tuple[bool, bytes, bytes]:
    """Where a raw CONTACTS record goes first: (to the identity topic?, key, value).

    Raises (pydantic ValidationError, ValueError, TypeError) for anything that is not a
    valid ContactEvent; the caller dead-letters it with that cause.
    """
    event = ContactEvent.decode(raw)
    ids = identifiers(event.data.customer)
    if ids and event.data.kind == ContactKind.MESSAGE:
        return True, ids[0][0].encode(), Walk(ids).encode() + b"\n" + raw
    if ids:
        key, why = customer_key_for(ids[0][0]), f"identity: {event.data.kind.value}, {ids[0][1]} only, never linked"
    else:
        key, why = anonymous_key(event.dedup_key), "identity: no identifier, anonymous customer"
    return False, key.encode(), b"C" + Merge(key, key, [], [], why).encode() + b"\n" + raw
