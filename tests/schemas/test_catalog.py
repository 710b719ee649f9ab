"""The catalog and event models: what downstream subscribers rely on."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import CATALOG, Channel, Contact, ContactEvent, stable_event_id, utcnow
from schemas.envelope import EVENT_ID_NAMESPACE
from schemas.export import export_json_schemas
from schemas.topics import by_event_type, markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_topic_has_a_distinct_name_and_event_type() -> None:
    assert len({s.name for s in CATALOG}) == len(CATALOG)
    assert len(by_event_type()) == len(CATALOG)


def test_docs_are_generated_from_the_catalog(tmp_path: Path) -> None:
    """docs/topics.md and docs/schemas/ must be regenerated (`intake topics docs`) when the catalog changes."""
    assert markdown_table() in (DOCS / "topics.md").read_text()
    for path in export_json_schemas(tmp_path):
        committed = DOCS / "schemas" / path.name
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), f"{committed} is stale"


def _contact(**overrides: object) -> Contact:
    fields = dict(channel=Channel.WEBFORM, provider="webform", provider_message_id="m-1", received_at=utcnow(),
                  body="订单 A123 还没发货 / order not shipped")
    fields.update(overrides)
    return Contact(**fields)


def test_contact_event_round_trips_through_json_with_chinese_text() -> None:
    event = ContactEvent(source="/test", data=_contact())
    decoded = ContactEvent.decode(event.encode())
    assert decoded == event
    assert decoded.type == "intake.contact.received.v1" and decoded.specversion == "1.0"
    assert decoded.dedup_key == "webform:m-1"


def test_event_type_must_match_the_model() -> None:
    with pytest.raises(ValidationError, match="Input should be .intake.contact.received.v1."):
        ContactEvent(type="intake.sla.v1", source="/test", data=_contact())


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ContactEvent.model_validate({"source": "/t", "data": {**_contact().model_dump(), "surprise": 1}})


def test_stable_event_id_is_deterministic_and_distinct() -> None:
    assert stable_event_id("sms", "SM1") == stable_event_id("sms", "SM1")
    assert stable_event_id("sms", "SM1") != stable_event_id("sms", "SM2")
    assert stable_event_id("sms", "SM1") != stable_event_id("email", "SM1")


def test_stable_event_id_is_the_uuid5_every_stored_event_carries() -> None:
    """The fast computation must give the ids earlier versions gave (uuid5 of the joined parts),
    or re-deliveries of old messages would no longer collapse downstream."""
    for parts in [("webform", "abc"), ("sms", "订单-1001"), ("email", "x" * 500), ("a\x1fb",), ("",),
                  ("routed", "0" * 32), ("case-1", "first_response", "2", "warning", "0.75"), (" spaced ", "ü")]:
        expected = uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)).hex
        assert stable_event_id(*parts) == expected, parts
    channel = Channel.SMS  # an enum member joins as its value
    assert stable_event_id(channel, "SM1") == uuid.uuid5(EVENT_ID_NAMESPACE, "sms\x1fSM1").hex
