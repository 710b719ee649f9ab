"""Customer identity across channels: a union-find over the customer-keyed table.

Why this design: a contact may carry several identifiers (phone, email, handle, customer
number, order numbers) and Faust tables only see their own partition, so no agent can look
all of them up at once. Instead every identifier *is* a node of the union-find: its node
key is derived from it (``cus-<blake2b of kind:value>``) and lives in the customer table
(``streams.routing.customers``) on the partition of that key. No identifier index is needed.

* A contact's candidates are the node keys of its identifiers. The smallest is the
  **target**; the contact visits every other candidate's partition first, largest key
  first (internal topic keyed by customer key), takes that customer's whole state along and
  leaves a ``forward`` pointer to the key it goes to next (the union), then lands on the
  target, which absorbs what was carried and decides the contact against all of the
  customer's cases.
* A key that already has a forward pointer was merged earlier: the contact follows it
  (the find), as do lifecycle and escalation events for case ids issued under that key.
  A message that follows a fresh pointer travels the merging contact's route behind it
  (Kafka keeps order per partition), so it can never reach the root before the state the
  merging contact carries.
  A contact carrying state that passes an already merged key whose pointer is not its own
  next hop re-points that key at its next hop, for the same reason: followers arriving
  there later must not take a shortcut to the root ahead of what the walk carries (a walk
  that carries nothing has left no pointers behind it, so it changes nothing).
* Every hop goes to a strictly smaller key, so pointers can never form a cycle, even
  with merges decided concurrently on different partitions, and every walk ends.
* The shortcut: a root remembers the keys merged into it (``members``, bounded). A contact
  with several identifiers first goes to its target and follows its pointers to the root (the
  probe; it changes nothing on its way). If that root's members hold all the contact's other
  keys (the customer's identifiers were linked by an earlier contact) it is decided there.
  Otherwise it walks only the keys that root does not know, from the largest down to the root
  (the one hop that goes up; a walk carries nothing then, so the ordering argument above is
  untouched; pointers only lead to smaller keys, so the root is smaller than every key left).
  Members are only ever added by absorbing carried state, so a key listed there did reach this
  root with its memory, and skipping it skips a pointer that leads here anyway.

A contact with one known identifier costs one hop (plus one per forward pointer on its way);
one with several, once they are linked, also one (plus the target's pointers); one that brings
a new identifier, two more: that key, then back to the root.
Keys are hashes, not phone numbers or addresses: no personal data in keys, case ids or
changelog keys. Auto-replies and bounces never merge: they go to their first identifier's
node and follow its pointers.

Exact re-deliveries are recognised at the customer (``seen`` contact ids in its state): a
re-delivery carries the same identifiers, hence the same nodes, whose pointers only ever
lead to the root that absorbed the record of the first delivery.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from schemas.contact import ContactEvent, ContactKind, Identifiers

from .decide.cases import CustomerState


def _hash(identifier: str) -> str:
    return hashlib.blake2b(identifier.encode(), digest_size=8).hexdigest()


def node_keys(customer: Identifiers) -> list[tuple[str, str]]:
    """(customer key, identifier kind) of every identifier, strongest first."""
    found: list[tuple[str, str]] = []
    for kind, value in (("customer_number", customer.customer_number), ("phone", customer.phone),
                        ("email", customer.email and customer.email.strip().lower()), ("handle", customer.handle)):
        if value:
            found.append((f"cus-{_hash(f'{kind}:{value}')}", kind))
    for order in dict.fromkeys(o.strip().lower() for o in customer.order_numbers if o.strip()):
        found.append((order_key(order), "order"))
    return list(dict.fromkeys(found))


def order_key(order_number: str) -> str:
    """The node key of an order number (as :func:`node_keys` derives it): where its customer can be found."""
    return f"cus-{_hash(f'order:{order_number.strip().lower()}')}"


def anonymous_key(dedup_key: str) -> str:
    """A contact without any identifier is its own customer."""
    return f"cus-{_hash(f'anonymous:{dedup_key}')}"


@dataclass(slots=True)
class Walk:
    """What a contact carries on the customer topic: where it ends up and what it picks up."""

    key: str                      # the customer key this message is addressed to
    target: str                   # the root it will be decided at
    pending: list[str]            # keys still to merge into the root
    carried: list[bytes]          # customer states picked up from merged keys (encoded)
    why: list[str]
    probe: bool = False           # first stops: the target, its pointers to the root: all the keys merged there?

    def encode(self) -> bytes:
        d = {"key": self.key, "target": self.target, "pending": self.pending,
             "carried": [c.decode() for c in self.carried], "why": self.why}
        if self.probe:
            d["probe"] = True
        return orjson.dumps(d)

    @classmethod
    def decode(cls, raw: bytes) -> Walk:
        d = orjson.loads(raw)
        return cls(d["key"], d["target"], d["pending"], [c.encode() for c in d["carried"]], d["why"],
                   d.get("probe", False))

    @classmethod
    def start(cls, keys: list[str], why: list[str]) -> Walk:
        """A contact with several keys first probes its target; with one key it is already there."""
        walk = cls("", "", [], [], why)
        walk._route(set(keys))
        walk.probe = bool(walk.pending)
        walk.key = walk.target if walk.probe else walk.next_key()
        return walk

    def next_key(self) -> str:
        """Keys to merge first, largest first, the root last: every hop goes to a smaller key."""
        return self.pending[0] if self.pending else self.target

    def reason(self) -> str:
        return "identity: " + ", ".join(self.why)

    def _route(self, keys: set[str]) -> None:
        self.target = min(keys)
        self.pending = sorted(keys - {self.target}, reverse=True)

    def hop(self, state: CustomerState) -> tuple[bool, CustomerState | None]:
        """Advance at ``self.key``, whose stored state is ``state`` (changed in place when it is a root).

        Returns (decide here, state to store at this key instead, if any); when not deciding,
        ``self.key`` is the next customer key to send the contact to. Messages that later
        follow a pointer left here take the same route, behind this one (Kafka keeps order
        per partition), so they never overtake the state this contact carries.
        """
        key = self.key
        if self.probe:
            if state.forward is not None:  # the find, as lifecycle events take it: still probing
                self.key = state.forward
                return False, None
            self.probe = False
            missing = {*self.pending, self.target} - {key, *state.members}
            if not missing:  # the shortcut: every key of the contact was merged into this root already
                self.target, self.pending = key, []
                return True, None
            self._route(missing | {key})  # walk only the keys this root does not know, from the largest
            self.key = self.next_key()
            return False, None
        if state.forward is not None:  # find: this key was merged earlier
            rest = set(self.pending) | {self.target}
            rest.discard(key)
            self._route(rest | {state.forward})
            self.key = self.next_key()
            if self.key == state.forward or not self.carried:
                return False, None
            # re-point at the next hop (a smaller key, bound for the same root): whoever follows
            # this pointer later stays behind the state this walk carries
            return False, CustomerState(forward=self.key)
        if key > self.target:  # union: this customer joins the root, its memory travels along
            state.members.append(key)
            self.carried.append(state.encode())
            self.pending.remove(key)
            self.why.append(f"merged {key}")
            self.key = self.next_key()
            return False, CustomerState(forward=self.key)
        if key != self.target or self.pending:  # next_key() only sends here when nothing else is left
            raise ValueError(f"walk reached root {key} out of turn (target {self.target}, pending {self.pending})")
        for carried in self.carried:  # the target, reached last: it absorbs what was carried and decides
            state.absorb(CustomerState.decode(carried))
        self.carried = []
        return True, None


def first_hop(raw: bytes) -> tuple[bytes, bytes]:
    """Key and value on the customer topic for a raw CONTACTS record.

    Raises (pydantic ValidationError, ValueError, TypeError) for anything that is not a
    valid ContactEvent; the caller dead-letters it with that cause.
    """
    event = ContactEvent.decode(raw)
    nodes = node_keys(event.data.customer)
    if not nodes:
        walk = Walk.start([anonymous_key(event.dedup_key)], ["no identifier, anonymous customer"])
    elif event.data.kind != ContactKind.MESSAGE:
        walk = Walk.start([nodes[0][0]], [f"{event.data.kind.value}: {nodes[0][1]} only, never linked"])
    else:
        walk = Walk.start([k for k, _kind in nodes], [f"{kind} {key}" for key, kind in nodes])
    return walk.key.encode(), b"C" + walk.encode() + b"\n" + raw
