"""WeChat Official Account message push (plaintext / compatible mode).

WeChat signs every request with ``signature = sha1(''.join(sorted([token, timestamp, nonce])))``
in the query string: the GET URL check echoes ``echostr``; every POST is checked too (403 on
mismatch or a timestamp outside the replay window) before its XML is read with defusedxml
(DTDs and entities are refused with 400). WeChat retries a push three times when no reply
comes within 5 s, so each message is idempotent on ``MsgId`` (events, which have none, on
FromUserName + CreateTime + Event). The reply is the documented ``success``.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from schemas import Attachment, Channel, Contact, Identifiers

from ..accept import accept_or_dead_letter, raw_payload
from ..errors import Rejected
from ..identifiers import handle
from ..metrics import RECEIVED
from ..settings import GatewaySettings

router = APIRouter(prefix="/social/wechat", tags=["social"])
CHANNEL = Channel.SOCIAL
_MEDIA = {"image": "image/jpeg", "video": "video/mp4", "shortvideo": "video/mp4"}


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's request signature (also what a test or relay uses to sign)."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def _verify(request: Request) -> None:
    settings: GatewaySettings = request.app.state.settings
    token = settings.secret(settings.wechat_token)
    if token is None:
        return
    q = request.query_params
    given, timestamp, nonce = q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")
    if not (given and timestamp and nonce):
        raise Rejected(CHANNEL, 403, "signature", "signature, timestamp and nonce query parameters are required")
    if not hmac.compare_digest(given.lower(), signature(token, timestamp, nonce)):
        raise Rejected(CHANNEL, 403, "signature", "signature does not match token, timestamp and nonce")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > settings.wechat_max_age_seconds:
        raise Rejected(CHANNEL, 403, "replay", f"timestamp {timestamp!r} is outside the {settings.wechat_max_age_seconds}s window")


@router.get("", response_class=PlainTextResponse)
async def verify_url(request: Request) -> PlainTextResponse:
    """Server-configuration check: echo ``echostr`` when the signature holds."""
    _verify(request)
    return PlainTextResponse(request.query_params.get("echostr", ""))


def parse_xml(body: bytes) -> Element:
    """The pushed ``<xml>`` document; 400 for anything that is not plain, well-formed XML."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise Rejected(CHANNEL, 400, "malformed_body", f"not an acceptable XML document: {type(exc).__name__}: {exc}") from exc
    if root.tag != "xml":
        raise Rejected(CHANNEL, 400, "malformed_body", f"root element is <{root.tag}>, expected <xml>")
    return root


def to_contact(root: Element, received_at: datetime) -> Contact:
    """Normalize one pushed message or event; raises ValueError with the cause."""
    field = {child.tag: (child.text or "").strip() for child in root}
    sender, kind, created = field.get("FromUserName"), field.get("MsgType"), field.get("CreateTime", "")
    if not kind:
        raise ValueError("no MsgType (safe-mode encrypted pushes are not supported; use plaintext or compatible mode)")
    if not sender:
        raise ValueError("no FromUserName")
    if not created.isdigit():
        raise ValueError(f"CreateTime {created!r} is not a Unix timestamp")
    attributes = {"wechat_account": field.get("ToUserName", ""), "msg_type": kind,
                  "sent_at": datetime.fromtimestamp(int(created), timezone.utc).isoformat()}
    body, attachments = "", []
    if kind == "event":
        event = field.get("Event") or ""
        if not event:
            raise ValueError("event without Event")
        message_id = f"wechat:{sender}:{created}:{event}"
        attributes["wechat_event"] = event
        for name in ("EventKey", "Ticket", "Latitude", "Longitude"):
            if field.get(name):
                attributes[name.lower()] = field[name][:500]
    else:
        if not field.get("MsgId"):
            raise ValueError(f"{kind} message without MsgId")
        message_id = f"wechat:{field['MsgId']}"
        if kind == "text":
            body = field.get("Content", "")
        elif kind == "voice":
            body = field.get("Recognition", "")
            attachments.append(Attachment(content_type=f"audio/{(field.get('Format') or 'amr').lower()}"))
        elif kind in _MEDIA:
            attachments.append(Attachment(content_type=_MEDIA[kind], url=field.get("PicUrl") or None))
        elif kind == "location":
            body = field.get("Label", "")
            attributes.update(latitude=field.get("Location_X", ""), longitude=field.get("Location_Y", ""))
        elif kind == "link":
            body = "\n".join(v for v in (field.get("Title"), field.get("Description"), field.get("Url")) if v)
        else:
            raise ValueError(f"unsupported MsgType {kind!r}")
        if field.get("MediaId"):
            attributes["media_id"] = field["MediaId"][:500]
    return Contact(channel=CHANNEL, provider="wechat", provider_message_id=message_id, received_at=received_at,
                   customer=Identifiers(handle=handle("wechat", sender)), body=body, attachments=attachments,
                   attributes=attributes)


@router.post("", response_class=PlainTextResponse)
async def push(request: Request) -> PlainTextResponse:
    RECEIVED.labels(CHANNEL).inc()
    _verify(request)
    body = await request.body()
    root = parse_xml(body)
    now = datetime.now(timezone.utc)
    raw = raw_payload(CHANNEL, "wechat", request, body, now)
    raw.headers = {k: request.query_params[k] for k in ("signature", "timestamp", "nonce", "openid") if k in request.query_params}
    build: Callable[[], Contact] = lambda: to_contact(root, now)  # noqa: E731
    await accept_or_dead_letter(request, CHANNEL, raw, "/connectors/social/wechat", build)
    return PlainTextResponse("success")
