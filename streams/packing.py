"""Several internal messages per Kafka record, for the internal topics that carry the most records.

Every consumed record costs Faust and aiokafka ~100 µs of CPU (fetch thread, conductor, stream),
however small it is, and a contact crosses the customers topic two or three times on its identity
walk and the SLA command topic once. The agents' outbox packs the messages of one batch bound for
one partition of such a topic into one record; ``batches()`` hands them out one by one again.
Plain records pass through unchanged, so producers that write single messages (the replay's
watermarks, tests) need not know.
"""
from __future__ import annotations

import faust

#: First byte of a record that carries several messages of a packed topic (NUL: no JSON document
#: and no kind-prefixed internal message starts with it), followed by frames of a 4-byte big-endian
#: length and the message.
PACKED = b"\x00"
#: A packed record is sealed at this size (well under a record batch and the broker's message limit).
PACK_BYTES = 128 * 1024
#: Names of the packed topics (see :func:`packed`).
PACKED_TOPICS: set[str] = set()


def packed(topic: faust.TopicT) -> faust.TopicT:
    """Mark an internal topic as packed (its Outbox messages travel in packed records).

    Order within a partition is kept (frames in order, records in order). Keys are not: the agents
    of these topics read the key from the message, and the record's partition is the key's.
    """
    PACKED_TOPICS.update(topic.topics)
    return topic


def frame(message: bytes) -> bytes:
    """One message as it sits in a packed record (after the leading :data:`PACKED` byte)."""
    return len(message).to_bytes(4, "big") + message


def unpack(record: bytes | None) -> list[bytes | None]:
    """The messages of a packed record; anything else (or a damaged pack) is one message, as it came."""
    if record is None or record[:1] != PACKED:
        return [record]
    messages, at, end = [], 1, len(record)
    while at + 4 <= end:
        size = int.from_bytes(record[at:at + 4], "big")
        messages.append(record[at + 4:at + 4 + size])
        at += 4 + size
    return messages if at == end else [record]
