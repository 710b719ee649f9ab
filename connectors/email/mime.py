"""One raw RFC 5322 message -> one normalized :class:`Contact` (stdlib ``email``, policy=default).

Headers are read raw and decoded here (:mod:`.charsets`) rather than through the header
objects, because mislabelled GB2312 and raw 8-bit headers are everyday Chinese mail and
must decode, not turn into defects. Attachments travel as metadata only.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses

from schemas import Attachment, Channel, Contact, ContactKind, Identifiers, Thread

from ..identifiers import email as normal_email
from .charsets import decode_bytes, header_text
from .classify import classify
from .html import html_to_text
from .quotes import strip_quoted
from .settings import EmailSettings

_MSGID = re.compile(r"<[^<>\s]+>")
_BROKEN_MULTIPART = ("NoBoundaryInMultipartDefect", "StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect")


class Unnormalizable(ValueError):
    """The message parsed but no contact can be built from it; the text is the dead-letter cause."""


def parse(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)  # type: ignore[return-value]


def raw_header(msg: EmailMessage, name: str) -> str | None:
    """The header's source text (first occurrence), bypassing header-object parsing."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def provider_message_id(data: bytes, msg: EmailMessage) -> str:
    """Message-ID, or a hash of the raw bytes when absent: a redelivery maps to the same id either way."""
    found = _MSGID.findall(raw_header(msg, "Message-ID") or "")
    if found and len(found[0]) <= 500:
        return found[0]
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    raw = raw_header(msg, name)
    if not raw:
        return []
    pairs = getaddresses([raw])
    return [(header_text(n), a.strip()) for n, a in pairs if "@" in a and " " not in a.strip()]


def _sender(msg: EmailMessage) -> tuple[str, str]:
    for name in ("From", "Sender", "Reply-To"):
        found = _addresses(msg, name)
        if found:
            return found[0]
    raise Unnormalizable(f"no sender address: From={raw_header(msg, 'From')!r}")


def _leaves(part: EmailMessage) -> list[EmailMessage]:
    """Non-multipart parts in order; message/* parts stay whole (a bounce's returned mail is one attachment)."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        return [leaf for sub in part.iter_parts() for leaf in _leaves(sub)]  # type: ignore[arg-type]
    return [part]


def _part_bytes(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    inner = part.get_payload()
    if isinstance(inner, list):
        return b"".join(m.as_bytes() for m in inner)
    return str(inner).encode("utf-8", "surrogateescape")


def _part_text(part: EmailMessage) -> tuple[str, bool]:
    return decode_bytes(_part_bytes(part), part.get_content_charset())


def _attachment(part: EmailMessage) -> Attachment:
    data = _part_bytes(part)
    name = part.get_filename() or part.get_param("name")
    if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
        name = collapse_rfc2231_value(name)
    filename = header_text(str(name))[:512] if name else None
    return Attachment(filename=filename, content_type=part.get_content_type()[:255], size_bytes=len(data),
                      sha256=hashlib.sha256(data).hexdigest())


def _is_attachment(part: EmailMessage) -> bool:
    """Inline text parts without a name are the body's alternatives (the HTML twin), not attachments."""
    return part.is_attachment() or bool(part.get_filename()) or part.get_content_maintype() != "text"


def _body(msg: EmailMessage) -> tuple[EmailMessage | None, str, bool]:
    """(body part, new text of the reply, decoded cleanly)."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None, "", True
    text, clean = _part_text(part)  # type: ignore[arg-type]
    if part.get_content_subtype() == "html":
        text = html_to_text(text) or html_to_text(text, drop_quoted=False)
    return part, strip_quoted(text), clean  # type: ignore[return-value]


def _delivery_status(msg: EmailMessage) -> dict[str, str]:
    """Who bounced and why, from the first per-recipient block of a delivery-status report."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[1:] if isinstance(blocks, list) else []:
                found = {"bounce_" + k.lower().replace("-", "_"): str(block.get(k, "")).split(";")[-1].strip()
                         for k in ("Final-Recipient", "Action", "Status", "Diagnostic-Code") if block.get(k)}
                if found:
                    return found | _returned_message_id(msg)
    return _returned_message_id(msg)


def _returned_message_id(msg: EmailMessage) -> dict[str, str]:
    """Message-ID of the mail that bounced (from the returned headers), to link the bounce to its thread."""
    for part in msg.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            found = _MSGID.findall(raw_header(parse(_part_bytes(part)), "Message-ID") or "")
            if found:
                return {"bounce_original_message_id": found[0]}
    return {}


def _language(msg: EmailMessage, body_part: EmailMessage | None) -> str | None:
    """The sender's own Content-Language (RFC 3282) when given; detection is left to downstream."""
    for part in (body_part, msg):
        found = re.match(r"\s*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)", raw_header(part, "Content-Language") or "") if part is not None else None
        if found:
            return found.group(1)[:16]
    return None


def to_contact(data: bytes, provider: str, received_at: datetime, limits: EmailSettings) -> Contact:
    """Normalize one message; raises :class:`Unnormalizable` with the cause."""
    msg = parse(data)
    name, address = _sender(msg)
    subject = header_text(raw_header(msg, "Subject"))[:1000]
    kind, reason = classify(msg, address.lower(), subject)
    body_part, body, clean = _body(msg)
    defects = [type(d).__name__ for p in msg.walk() for d in p.defects]
    if body_part is None and any(d in _BROKEN_MULTIPART for d in defects):
        raise Unnormalizable(f"multipart structure is broken ({', '.join(sorted(set(defects)))}); no body found")
    attributes: dict[str, str] = {}
    if not clean:
        attributes["charset_fallback"] = str(body_part.get_content_charset()) if body_part else ""
    if len(body) > limits.max_body_chars:
        body, attributes["body_truncated"] = body[:limits.max_body_chars], "true"
    parts = [p for p in _leaves(msg) if p is not body_part and _is_attachment(p)]
    if len(parts) > limits.max_attachments:
        attributes["attachments_omitted"] = str(len(parts) - limits.max_attachments)
    attachments = [_attachment(p) for p in parts[:limits.max_attachments]]
    for header in ("To", "Cc", "Reply-To"):
        found = _addresses(msg, header)
        if found:
            attributes[header.lower().replace("-", "_")] = ", ".join(a.lower() for _, a in found)[:2000]
    if raw_header(msg, "Date"):
        attributes["date"] = header_text(raw_header(msg, "Date"))[:200]
    if reason:
        attributes["kind_reason"] = reason[:500]
    if kind is ContactKind.BOUNCE:
        attributes.update({k: v[:500] for k, v in _delivery_status(msg).items()})
    return Contact(
        channel=Channel.EMAIL, provider=provider, provider_message_id=provider_message_id(data, msg),
        received_at=received_at, kind=kind, subject=subject or None, body=body, attachments=attachments,
        language=_language(msg, body_part),
        customer=Identifiers(email=normal_email(address), name=name[:200] or None),
        thread=Thread(message_id=(_MSGID.findall(raw_header(msg, "Message-ID") or "") or [None])[0],
                      in_reply_to=(_MSGID.findall(raw_header(msg, "In-Reply-To") or "") or [None])[0],
                      references=_MSGID.findall(raw_header(msg, "References") or "")[-50:]),
        attributes=attributes,
    )
