"""Meta webhooks: Messenger, Instagram and WhatsApp Cloud API on one callback URL.

GET answers the subscription handshake (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``). POST bodies are verified with ``X-Hub-Signature-256`` (HMAC-SHA256 of
the raw body with the app secret) before they are parsed. One delivery batches several
entries and messages: each inquiry becomes its own contact, idempotent on its message id
(``mid``, WhatsApp ``messages[].id``, comment/post id). Receipts, echoes of our own
messages and WhatsApp status updates are not inquiries and are skipped; public posts and
comments are marked ``is_public``. Meta retries any non-200 answer.
"""
from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from schemas import Attachment, Channel, Contact, Identifiers

from ..accept import accept_contact, dead_letter, raw_payload
from ..bodies import parse_json_object
from ..errors import Rejected
from ..identifiers import e164, handle
from ..metrics import RECEIVED
from ..settings import GatewaySettings
from ..signatures import hmac_signature

router = APIRouter(prefix="/social/meta", tags=["social"])
CHANNEL = Channel.SOCIAL
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: what a messaging event carries besides a message: receipts, reactions, ... (not inquiries)
_NOT_INQUIRIES = ("delivery", "read", "reaction", "message_edit", "optin", "referral", "account_linking")

#: Meta names only the kind of an attachment, not its exact media type
_ATTACHMENT_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*", "file": "application/octet-stream"}

Builder = Callable[[], Contact | None]


@router.get("", response_class=PlainTextResponse)
async def subscribe(request: Request) -> PlainTextResponse:
    settings: GatewaySettings = request.app.state.settings
    token = settings.secret(settings.meta_verify_token)
    q = request.query_params
    if q.get("hub.mode") != "subscribe" or "hub.challenge" not in q:
        raise Rejected(CHANNEL, 400, "invalid_fields", "expected hub.mode=subscribe with hub.challenge")
    if token is None or not hmac.compare_digest(q.get("hub.verify_token", "").encode(), token.encode()):
        raise Rejected(CHANNEL, 403, "signature", "hub.verify_token does not match")
    return PlainTextResponse(q["hub.challenge"])


def _verify(request: Request, body: bytes) -> None:
    settings: GatewaySettings = request.app.state.settings
    secret = settings.secret(settings.meta_app_secret)
    if secret is None:
        return
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise Rejected(CHANNEL, 403, "signature", f"missing {SIGNATURE_HEADER}")
    if not hmac.compare_digest(given.strip().lower().encode(), hmac_signature(secret, body).encode()):
        raise Rejected(CHANNEL, 403, "signature", f"{SIGNATURE_HEADER} does not match the body")


def _when(value: Any, millis: bool) -> str:
    seconds = int(value) / 1000 if millis else int(value)
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _need(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or mapping.get(key) in (None, ""):
        raise ValueError(f"{where}: missing {key}")
    return mapping[key]


def _messaging(platform: str, event: dict, where: str, now: datetime) -> Contact | None:
    """A Messenger or Instagram messaging event: a message or a postback is an inquiry."""
    sender = _need(_need(event, "sender", where), "id", f"{where}.sender")
    message, postback = event.get("message"), event.get("postback")
    if isinstance(message, dict) and message.get("is_echo"):
        return None  # our own page's outgoing message
    if not isinstance(message, dict) and not isinstance(postback, dict):
        if any(k in event for k in _NOT_INQUIRIES):
            return None
        raise ValueError(f"{where}: neither message nor postback ({', '.join(sorted(event)) or 'empty'})")
    item = message if isinstance(message, dict) else postback
    mid = _need(item, "mid", where)
    attributes = {"page_id": str((event.get("recipient") or {}).get("id", ""))}
    if event.get("timestamp") is not None:
        attributes["sent_at"] = _when(event["timestamp"], millis=True)
    attachments = [Attachment(content_type=_ATTACHMENT_TYPES.get(str(a.get("type")), "application/octet-stream"),
                              url=(a.get("payload") or {}).get("url"))
                   for a in (item.get("attachments") or []) if isinstance(a, dict)]
    if postback is item:
        attributes["postback_payload"] = str(postback.get("payload", ""))[:500]
        body = str(postback.get("title", ""))
    else:
        body = str(message.get("text", ""))
        if isinstance(message.get("quick_reply"), dict):
            attributes["quick_reply_payload"] = str(message["quick_reply"].get("payload", ""))[:500]
        if isinstance(message.get("reply_to"), dict) and message["reply_to"].get("mid"):
            attributes["reply_to"] = str(message["reply_to"]["mid"])
    return Contact(channel=CHANNEL, provider=platform, provider_message_id=f"{platform}:{mid}", received_at=now,
                   customer=Identifiers(handle=handle(platform, str(sender))), body=body, attachments=attachments,
                   attributes=attributes)


def _feed(value: dict, page_id: str, where: str, now: datetime) -> Contact | None:
    """A Page feed change: a new public post or comment by someone else is a public inquiry."""
    if value.get("verb") != "add" or value.get("item") not in ("comment", "post", "status", "photo", "video"):
        return None
    author = _need(value, "from", where)
    if str(author.get("id")) == page_id:
        return None  # the page's own post or reply
    item_id = value.get("comment_id") or value.get("post_id")
    if not item_id:
        raise ValueError(f"{where}: feed {value.get('item')} without comment_id or post_id")
    attributes = {"page_id": page_id, "item": str(value["item"]), "post_id": str(value.get("post_id", ""))}
    if value.get("created_time") is not None:
        attributes["sent_at"] = _when(value["created_time"], millis=False)
    return Contact(channel=CHANNEL, provider="facebook", provider_message_id=f"facebook:{item_id}", received_at=now,
                   customer=Identifiers(handle=handle("facebook", str(_need(author, "id", where))),
                                        name=str(author.get("name", ""))[:200] or None),
                   body=str(value.get("message", "")), is_public=True, attributes=attributes)


def _instagram_change(field: str, value: dict, account: str, where: str, now: datetime) -> Contact | None:
    """Comments on our media and mentions of our account are public."""
    if field == "comments":
        comment_id = _need(value, "id", where)
        author = _need(value, "from", where)
        if str(author.get("id")) == account:
            return None
        return Contact(channel=CHANNEL, provider="instagram", provider_message_id=f"instagram:comment:{comment_id}",
                       received_at=now, is_public=True, body=str(value.get("text", "")),
                       customer=Identifiers(handle=handle("instagram", str(_need(author, "id", where))),
                                            name=str(author.get("username", ""))[:200] or None),
                       attributes={"account_id": account, "media_id": str((value.get("media") or {}).get("id", ""))})
    if field == "mentions":
        item_id = value.get("comment_id") or _need(value, "media_id", where)
        return Contact(channel=CHANNEL, provider="instagram", provider_message_id=f"instagram:mention:{item_id}",
                       received_at=now, is_public=True,
                       attributes={"account_id": account, "media_id": str(value.get("media_id", "")),
                                   "comment_id": str(value.get("comment_id", ""))})
    return None


def _whatsapp_text(message: dict) -> str:
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return ""
    if kind == "text":
        return str(part.get("body", ""))
    if kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        return str(reply.get("title", ""))
    if kind == "location":
        return "\n".join(str(part[k]) for k in ("name", "address") if part.get(k))
    return str(part.get("caption") or part.get("text") or part.get("emoji") or "")


def _whatsapp(value: dict, message: dict, where: str, now: datetime) -> Contact | None:
    if message.get("type") in ("reaction", "system"):
        return None  # an emoji on an earlier message, a number change: not inquiries
    wamid = _need(message, "id", where)
    sender = str(_need(message, "from", where))
    phone = e164("+" + sender.lstrip("+"))
    if phone is None:
        raise ValueError(f"{where}: from {sender!r} is not a phone number")
    names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name") for c in value.get("contacts") or [] if isinstance(c, dict)}
    kind = str(message.get("type", ""))
    media = message.get(kind) if isinstance(message.get(kind), dict) else {}
    attachments = ([Attachment(content_type=str(media.get("mime_type", "application/octet-stream"))[:255],
                               filename=media.get("filename"))]
                   if kind in ("image", "audio", "video", "document", "sticker") else [])
    attributes = {"msg_type": kind, "phone_number_id": str((value.get("metadata") or {}).get("phone_number_id", ""))}
    if media.get("id"):
        attributes["media_id"] = str(media["id"])
    if isinstance(message.get("context"), dict) and message["context"].get("id"):
        attributes["reply_to"] = str(message["context"]["id"])
    if message.get("timestamp") is not None:
        attributes["sent_at"] = _when(message["timestamp"], millis=False)
    return Contact(channel=CHANNEL, provider="whatsapp", provider_message_id=f"whatsapp:{wamid}", received_at=now,
                   customer=Identifiers(phone=phone, handle=handle("whatsapp", phone), name=names.get(sender)),
                   body=_whatsapp_text(message), attachments=attachments, attributes=attributes)


def inquiries(payload: dict, now: datetime) -> Iterator[Builder]:
    """One builder per item of the delivery; a builder raises ValueError (-> dead letter) or returns None (skip)."""
    obj = payload.get("object")
    entries = payload.get("entry")
    if obj not in ("page", "instagram", "whatsapp_business_account") or not isinstance(entries, list):
        yield lambda: _fail(f"unsupported delivery: object={obj!r}, entry is {type(entries).__name__}")
        return
    platform = "messenger" if obj == "page" else "instagram"
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            yield lambda w=f"entry[{i}]": _fail(f"{w} is not an object")
            continue
        account = str(entry.get("id", ""))
        for j, event in enumerate(entry.get("messaging") or []):
            where = f"entry[{i}].messaging[{j}]"
            yield lambda e=event, w=where: _messaging(platform, e, w, now)
        for j, change in enumerate(entry.get("changes") or []):
            where = f"entry[{i}].changes[{j}]"
            value = change.get("value") if isinstance(change, dict) else None
            field = change.get("field") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                yield lambda w=where: _fail(f"{w}: change without a value object")
            elif obj == "whatsapp_business_account":
                for k, message in enumerate(value.get("messages") or []):  # statuses[] are receipts, not inquiries
                    yield lambda v=value, m=message, w=f"{where}.value.messages[{k}]": _whatsapp(v, m, w, now)
            elif obj == "page" and field == "feed":
                yield lambda v=value, w=where: _feed(v, account, w, now)
            elif obj == "instagram":
                yield lambda f=field, v=value, w=where: _instagram_change(str(f), v, account, w, now)


def _fail(cause: str) -> Contact:
    """A builder for an item that is already known to be unnormalizable."""
    raise ValueError(cause)


@router.post("")
async def deliver(request: Request) -> JSONResponse:
    RECEIVED.labels(CHANNEL).inc()
    body = await request.body()
    _verify(request, body)
    payload = parse_json_object(CHANNEL, body)
    now = datetime.now(timezone.utc)
    raw = raw_payload(CHANNEL, "meta", request, body, now, headers=(SIGNATURE_HEADER,))
    counts = {"published": 0, "duplicates": 0, "dead_letters": 0, "skipped": 0}
    contacts: list[Contact] = []
    for build in inquiries(payload, now):
        try:
            contact = build()
        except Exception as exc:  # noqa: BLE001 - whatever the cause, the item must reach the dead letters
            await dead_letter(request, CHANNEL, raw, exc)
            counts["dead_letters"] += 1
            continue
        if contact is None:
            counts["skipped"] += 1
        else:
            contacts.append(contact)
    # the items of one delivery are independent: wait for all their acks at once
    outcomes = await asyncio.gather(*(accept_contact(request, c, raw, "/connectors/social/meta") for c in contacts))
    for _, duplicate in outcomes:
        counts["duplicates" if duplicate else "published"] += 1
    return JSONResponse(counts)
