"""Synthetic routed contacts for the sink benchmarks (realistic size: identifiers, text, reasons)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from operator import itemgetter

from schemas import (CallDetails, Channel, Contact, DedupVerdict, Identifiers, RoutedContact, RoutedContactEvent,
                     stable_event_id)
from sinks.pii import Protector
from sinks.rows import Row, routed

QUEUES = ("general", "after_sales", "complaints", "logistics", "vip")
CATEGORIES = ("order", "logistics", "product", "payment", "return", "complaint", "consultation", "other")


def routed_events(count: int, seed: int = 1, spread: timedelta = timedelta(hours=6)) -> list[bytes]:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    channels = list(Channel)
    out = []
    for n in range(count):
        channel = channels[n % len(channels)]
        message_id = f"bench-{seed}-{n}"
        contact_id = stable_event_id(str(channel), message_id)
        received = now - timedelta(seconds=rng.random() * spread.total_seconds())
        contact = Contact(
            channel=channel, provider=str(channel), provider_message_id=message_id, received_at=received,
            customer=Identifiers(phone=f"+86138{n % 100_000_000:08d}", email=f"user{n}@example.com", name="王小明",
                                 order_numbers=[f"SO{n:010d}"]),
            subject="订单状态异常", body="我的订单三天了还没有发货，请帮忙查询一下物流情况。" * 3, language="zh",
            call=CallDetails(call_id=f"c{n}", outcome=rng.choice(["answered", "abandoned"])) if channel is Channel.PHONE else None)
        case_id = f"case-{n // 2}"
        out.append(RoutedContactEvent(
            source="/bench", id=stable_event_id("routed", contact_id),
            data=RoutedContact(contact_id=contact_id, contact=contact, customer_key=f"phone:+86138{n:08d}", case_id=case_id,
                               dedup=DedupVerdict.REPEAT if n % 2 else DedupVerdict.NEW_CASE,
                               category=rng.choice(CATEGORIES), queue=rng.choice(QUEUES), priority=rng.randint(1, 5),
                               routing_reason="rule:category->queue", priority_reason="urgency x impact")).encode())
    return out


def row_blocks(values: list[bytes], protect: Protector, batch: int, name: str) -> list[dict[str, list[Row]]]:
    """The sink's rows of ``values`` in blocks of ``batch`` contacts (table -> rows), each row
    stamped with its block's ``sink_batch`` (``<name>/<first index>``), as the sink writes them."""
    blocks = []
    for start in range(0, len(values), batch):
        tables: dict[str, list[Row]] = {}
        for value in values[start:start + batch]:
            for table, row in routed(value, protect):
                row["sink_batch"] = f"{name}/{start}"
                tables.setdefault(table, []).append(row)
        blocks.append(tables)
    return blocks


def columnar(rows: list[Row], names: list[str]) -> list[list[object]]:
    """Rows (dicts) -> one list per column, for a columnar Native insert."""
    return [list(map(itemgetter(name), rows)) for name in names]
