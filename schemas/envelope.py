"""The CloudEvents 1.0 envelope every event on every topic carries.

Events travel in CloudEvents *structured mode* (one JSON document, attributes at the top,
the payload under ``data``), so a subscriber can read them with any CloudEvents SDK or
plain JSON. Each event type subclasses :class:`Envelope`, fixes ``type`` and types ``data``.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from hashlib import sha1
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

#: Namespace for deterministic event ids (uuid5): the same provider message always gets
#: the same event id, so every stage downstream can be idempotent on it.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-4c1e-9d7a-2b5e0c9f4a11")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_event_id() -> str:
    return uuid.uuid4().hex


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def stable_event_id(*parts: str) -> str:
    """Same inputs, same id: lets re-deliveries of one message collapse everywhere.

    ``uuid.uuid5(EVENT_ID_NAMESPACE, "\\x1f".join(parts)).hex``, computed without the UUID
    object (1.5 instead of 3.5 µs; every event of every agent gets one).
    """
    digest = bytearray(sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


class Model(BaseModel):
    """Base for payload models: strict about unknown fields so producer bugs surface."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Envelope(Model):
    """CloudEvents attributes; ``type`` names the event and pins its schema version."""

    EVENT_TYPE: ClassVar[str] = ""

    specversion: str = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    type: str = ""
    source: str = Field(min_length=1, description="URI-reference of the producer, e.g. /connectors/webform")
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = Field(default=None, description="what the event is about, e.g. a case id")
    datacontenttype: str = "application/json"
    data: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Pin ``type`` to the class's EVENT_TYPE: a one-value Literal, checked by pydantic's own validator.

        Runs before pydantic collects the fields. A ``model_post_init`` doing the same check was a
        Python call on every decode: 1.9 of the 12.4 µs the sink spent decoding a routed contact.
        """
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("EVENT_TYPE"):
            cls.__annotations__["type"] = Literal[cls.EVENT_TYPE]
            cls.type = cls.EVENT_TYPE

    def encode(self) -> bytes:
        # model_dump_json() is this serializer's bytes decoded to str: skip the str and its re-encoding
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def decode(cls, raw: bytes | str) -> Self:
        return cls.model_validate_json(raw)
