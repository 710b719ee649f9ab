"""Packed records on the internal topics (streams/packing.py): what goes in comes out, in order."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.packing import PACKED, frame, unpack


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=40))
def test_a_packed_record_gives_back_its_messages_in_order(messages: list[bytes]) -> None:
    assert unpack(PACKED + b"".join(frame(m) for m in messages)) == messages


def test_plain_records_pass_through_as_one_message() -> None:
    # a contact on the customers topic, an SLA command, a replay watermark, a public event, a tombstone
    for record in (b'C{"key":"cus-1"}\n{}', b"R{}", b'W{"at":1.0,"partition":0}', b'{"id":"x"}', b"", None):
        assert unpack(record) == [record]


def test_a_damaged_pack_stays_one_record_for_the_agent_to_dead_letter() -> None:
    whole = PACKED + frame(b"C{}\n{}") + frame(b"C{}\n{}")
    for damaged in (whole[:-1], whole + b"\x00", PACKED + b"\x00\x00\x01"):
        assert unpack(damaged) == [damaged]
