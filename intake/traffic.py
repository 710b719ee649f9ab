"""Sample traffic: realistic inquiries on every channel, in each provider's own wire format.

Everything goes through the gateway's real HTTP endpoints, signed with the same secrets the
gateway is configured with (``GatewaySettings`` from the environment by default), so the
wallboard moves the way it would in production. The mix: Chinese and English customers
writing about shipping delays, returns, angry complaints and warranty / upgrade questions
(upsell cues); the same customer coming back about the same order on another channel;
provider retries; honeypot spam; and bad payloads (malformed, unsigned, unnormalizable).

Every request knows the answer the gateway must give; :func:`run_traffic` returns counts
per ``channel:kind``, plus ``sent``, ``as_expected`` and ``unexpected`` (and
``rate_limited`` for web forms refused with 429, which is correct behaviour when the
gateway does not trust the generator's X-Forwarded-For; see ``INTAKE_GATEWAY_TRUSTED_PROXIES``).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import smtplib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import httpx
from twilio.request_validator import RequestValidator

from connectors.settings import GatewaySettings
from connectors.signatures import HMAC_HEADER, hmac_signature

HOTLINE = "+864008001234"
SMS_NUMBER = "+8610690012345"
FORM = "application/x-www-form-urlencoded"

TEXTS: dict[str, dict[str, list[str]]] = {
    "shipping": {
        "zh": ["我的订单 {order} 已经五天了还没发货，什么时候能发？", "订单{order}的物流三天没更新了，快递是不是丢了？",
               "请问订单 {order} 为什么一直显示待发货？"],
        "en": ["Order {order} still hasn't shipped after five days. When will it go out?",
               "Tracking for order {order} hasn't moved in 3 days. Is the parcel lost?"],
    },
    "return": {
        "zh": ["订单 {order} 的鞋子尺码不合适，想申请退货退款。", "收到的商品有破损（订单{order}），要求换货。"],
        "en": ["The jacket from order {order} is the wrong size, I'd like to return it for a refund.",
               "Item in order {order} arrived damaged. Please exchange it."],
    },
    "complaint": {
        "zh": ["太过分了！订单{order}第三次送错货，客服电话也打不通，我要投诉！",
               "你们的服务太差了，订单{order}退款拖了两周，再不处理我就去消协投诉！"],
        "en": ["This is unacceptable! Third wrong delivery on order {order}. I want to file a complaint NOW.",
               "Worst service ever. Two weeks waiting for the refund on {order} and nobody answers. I'm furious."],
    },
    "warranty": {
        "zh": ["我的洗衣机保修下个月到期，可以购买延长保修吗？", "请问会员升级有什么优惠？公司想批量采购 50 台。"],
        "en": ["My blender's warranty expires next month. Can I buy an extended warranty?",
               "We'd like 50 units for our office. Is there a bulk discount or a business plan?"],
    },
}
APPOINTMENT = {"zh": "想预约周六上午上门安装空调，订单 {order}。", "en": "I'd like to book an installation visit on Saturday morning for order {order}."}
RETURN_REASONS = {"zh": ["尺码不合适", "质量问题", "七天无理由退货"], "en": ["wrong size", "defective", "changed my mind"]}


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    phone: str
    email: str
    language: str
    orders: tuple[str, ...]
    visitor_id: str
    ip: str


def customers(rng: random.Random, count: int = 40) -> list[Customer]:
    zh_names = ["李雷", "韩梅梅", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏"]
    en_names = ["Alice Chen", "Bob Smith", "Carol Davis", "David Lee", "Emma Wilson"]
    people = []
    for i in range(count):
        zh = rng.random() < 0.7
        name = rng.choice(zh_names if zh else en_names)
        phone = f"+861{rng.choice('3589')}{rng.randrange(10**8, 10**9)}" if zh else f"+1415555{rng.randrange(1000, 9999)}"
        people.append(Customer(name=name, phone=phone, email=f"customer{i}@example.{'cn' if zh else 'com'}",
                               language="zh" if zh else "en",
                               orders=tuple(f"A{rng.randrange(100000, 999999)}" for _ in range(rng.randint(1, 3))),
                               visitor_id=f"v-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
                               ip=f"198.51.100.{i % 250 + 1}"))
    return people


@dataclass(slots=True)
class Planned:
    """One HTTP request and the answer the gateway owes it."""

    channel: str
    kind: str
    path: str
    body: bytes
    headers: dict[str, str]
    expect: frozenset[int]
    check: Callable[[httpx.Response], bool] | None = None
    mail: tuple[str, str] | None = None  # (sender, recipient): sent over SMTP instead of HTTP; expect holds SMTP codes


@dataclass
class Signer:
    """Signs like each provider does, with the gateway's own secrets (unsigned where none is set)."""

    base_url: str
    settings: GatewaySettings

    def url(self, path: str) -> str:
        return (self.settings.public_url or self.base_url).rstrip("/") + path

    def hmac(self, secret_field: str, body: bytes, forged: bool = False) -> dict[str, str]:
        secret = self.settings.secret(getattr(self.settings, secret_field))
        if secret is None:
            return {}
        return {HMAC_HEADER: hmac_signature("forged" if forged else secret, body)}

    def twilio(self, path: str, params: dict[str, str], forged: bool = False) -> dict[str, str]:
        token = self.settings.secret(self.settings.twilio_auth_token)
        if token is None:
            return {}
        signer = RequestValidator("0" * 32 if forged else token)
        return {"X-Twilio-Signature": signer.compute_signature(self.url(path), params)}

    def can_forge(self, secret_field: str) -> bool:
        return getattr(self.settings, secret_field) is not None


def _duplicate(response: httpx.Response) -> bool:
    return response.json().get("duplicate") is True


def _dead_lettered(response: httpx.Response) -> bool:
    return bool(response.json().get("dead_letter_id"))


@dataclass
class Scenarios:
    """Builds request sequences; a sequence is sent in order (a call's webhooks, a retry after its original)."""

    signer: Signer
    rng: random.Random
    people: list[Customer] = field(default_factory=list)
    paths: frozenset[str] = frozenset()  # the gateway's endpoints; channels without one are left out
    mail_to: str | None = None  # recipient address when an SMTP endpoint answers

    def __post_init__(self) -> None:
        self.people = self.people or customers(self.rng)

    # --- helpers -------------------------------------------------------------------------
    def text(self, who: Customer, topic: str | None = None) -> tuple[str, str]:
        topic = topic or self.rng.choice(list(TEXTS))
        return topic, self.rng.choice(TEXTS[topic][who.language]).format(order=self.rng.choice(who.orders))

    def _json(self, channel: str, kind: str, path: str, payload: object, secret_field: str | None, expect: int,
              forged: bool = False, check: Callable[[httpx.Response], bool] | None = None,
              extra_headers: dict[str, str] | None = None) -> Planned:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", **(extra_headers or {})}
        if secret_field:
            headers.update(self.signer.hmac(secret_field, body, forged))
        return Planned(channel, kind, path, body, headers, frozenset({expect}), check)

    def _twilio(self, channel: str, kind: str, path: str, params: dict[str, str], forged: bool = False,
                expect: int = 200) -> Planned:
        headers = {"content-type": FORM, **self.signer.twilio(path, params, forged)}
        return Planned(channel, kind, path, urlencode(params).encode(), headers, frozenset({expect}))

    # --- web form -----------------------------------------------------------------------
    def webform(self, who: Customer, topic: str | None = None) -> list[Planned]:
        topic, message = self.text(who, topic)
        fields: dict[str, str] = {"submission_id": uuid.uuid4().hex, "name": who.name, "email": who.email,
                                  "phone": who.phone, "order_number": self.rng.choice(who.orders),
                                  "message": message, "language": who.language, "website": ""}
        roll = self.rng.random()
        if roll < 0.2:
            when = datetime.now(timezone(timedelta(hours=8))) + timedelta(days=self.rng.randint(1, 14))
            fields.update(form_type="appointment", appointment_time=when.strftime("%Y-%m-%dT10:00"),
                          message=APPOINTMENT[who.language].format(order=fields["order_number"]))
        elif roll < 0.4 or topic == "return":
            fields.update(form_type="return", return_reason=self.rng.choice(RETURN_REASONS[who.language]))
        headers = {"x-forwarded-for": who.ip}
        if self.rng.random() < 0.5:  # a plain HTML form
            body = urlencode(fields).encode()
            headers.update({"content-type": FORM, **self.signer.hmac("webform_secret", body)})
            first = Planned("webform", "good", "/webform", body, headers, frozenset({202}))
        else:
            first = self._json("webform", "good", "/webform", {k: v for k, v in fields.items() if v},
                               "webform_secret", 202, extra_headers=headers)
        if self.rng.random() < 0.15:  # a double click / browser retry
            return [first, Planned("webform", "retry", first.path, first.body, first.headers, first.expect, _duplicate)]
        return [first]

    def webform_bad(self, who: Customer) -> list[Planned]:
        headers = {"x-forwarded-for": who.ip}
        choice = self.rng.randrange(3)
        if choice == 0:
            return [self._json("webform", "spam", "/webform", {"submission_id": uuid.uuid4().hex, "email": "bot@spam.example",
                                                               "message": "Cheap watches http://spam.example", "website": "http://spam.example"},
                               "webform_secret", 202, extra_headers=headers)]
        if choice == 1:
            return [self._json("webform", "malformed", "/webform", b'{"submission_id": "x", "message": "unterminated',
                               "webform_secret", 400, extra_headers=headers)]
        return [self._json("webform", "invalid", "/webform", {"submission_id": uuid.uuid4().hex, "email": who.email,
                                                              "form_type": "return", "message": "退货"},
                           "webform_secret", 422, extra_headers=headers)]

    # --- chat -------------------------------------------------------------------------------
    def chat(self, who: Customer, topic: str | None = None) -> list[Planned]:
        session = f"sess-{uuid.uuid4().hex[:10]}"
        planned = []
        for _ in range(self.rng.randint(1, 3)):
            _, text = self.text(who, topic)
            message = {"message_id": f"msg-{uuid.uuid4().hex}", "session_id": session, "visitor_id": who.visitor_id,
                       "text": text, "sent_at": datetime.now(timezone.utc).isoformat(), "language": who.language,
                       "visitor": {"name": who.name, "email": who.email}, "order_number": self.rng.choice(who.orders)}
            planned.append(self._json("chat", "good", "/chat/messages", message, "chat_secret", 202))
        if self.rng.random() < 0.2:
            last = planned[-1]
            planned.append(Planned("chat", "retry", last.path, last.body, last.headers, last.expect, _duplicate))
        return planned

    def chat_bad(self, who: Customer) -> list[Planned]:
        message = {"message_id": f"msg-{uuid.uuid4().hex}", "session_id": "s", "visitor_id": who.visitor_id, "text": ""}
        if self.signer.can_forge("chat_secret") and self.rng.random() < 0.5:
            return [self._json("chat", "bad_signature", "/chat/messages", message, "chat_secret", 403, forged=True)]
        return [self._json("chat", "unnormalizable", "/chat/messages", message, "chat_secret", 202, check=_dead_lettered)]

    # --- SMS (Twilio Messaging) --------------------------------------------------------------
    def sms_params(self, who: Customer, body: str) -> dict[str, str]:
        sid = "SM" + uuid.uuid4().hex
        country = "CN" if who.phone.startswith("+86") else "US"
        return {"ToCountry": "CN", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
                "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
                "FromCountry": country, "To": SMS_NUMBER, "ToZip": "", "NumSegments": str(1 + len(body.encode()) // 140),
                "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": who.phone, "ApiVersion": "2010-04-01"}

    def sms(self, who: Customer, topic: str | None = None) -> list[Planned]:
        _, text = self.text(who, topic)
        params = self.sms_params(who, text)
        if self.rng.random() < 0.2:  # MMS: a photo of the damaged goods
            params.update(NumMedia="1", MediaContentType0="image/jpeg",
                          MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/{params['AccountSid']}/Messages/"
                                    f"{params['MessageSid']}/Media/ME{uuid.uuid4().hex}")
        first = self._twilio("sms", "good", "/sms/twilio", params)
        if self.rng.random() < 0.15:  # Twilio retried after a timeout
            return [first, Planned("sms", "retry", first.path, first.body, first.headers, first.expect)]
        return [first]

    def sms_bad(self, who: Customer) -> list[Planned]:
        params = self.sms_params(who, "hi")
        if self.signer.twilio("/sms/twilio", params) and self.rng.random() < 0.5:
            return [self._twilio("sms", "bad_signature", "/sms/twilio", params, forged=True, expect=403)]
        del params["From"]
        return [self._twilio("sms", "unnormalizable", "/sms/twilio", params)]

    # --- phone (Twilio Voice, and the generic JSON format) -------------------------------------
    def twilio_call(self, who: Customer, topic: str | None = None) -> list[Planned]:
        sid, start = "CA" + uuid.uuid4().hex, datetime.now(timezone.utc)
        base = {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "CallSid": sid, "Direction": "inbound",
                "From": who.phone, "Caller": who.phone, "To": HOTLINE, "Called": HOTLINE,
                "FromCountry": "CN" if who.phone.startswith("+86") else "US", "ToCountry": "CN"}
        sequence = iter(range(100))

        def status(state: str, after: int, **extra: str) -> tuple[dict[str, str], str]:
            return ({**base, "CallStatus": state, "Timestamp": format_datetime(start + timedelta(seconds=after), usegmt=True),
                     "CallbackSource": "call-progress-events", "SequenceNumber": str(next(sequence)), **extra}, "")

        def gather(menu: str, digits: str) -> tuple[dict[str, str], str]:
            return {**base, "CallStatus": "in-progress", "Digits": digits}, f"?menu={menu}"

        def queue(name: str, result: str, waited: int) -> tuple[dict[str, str], str]:
            return ({**base, "CallStatus": "in-progress", "QueueResult": result, "QueueSid": "QU" + "0" * 32,
                     "QueueTime": str(waited)}, f"?queue={name}")

        topic = topic or self.rng.choice(list(TEXTS))
        menu_digit = {"shipping": "1", "return": "2", "complaint": "3", "warranty": "4"}[topic]
        steps = [status("ringing", 0), gather("main", menu_digit)]
        story = self.rng.choice(["answered", "answered", "abandoned_callback", "voicemail", "missed"])
        if story == "missed":
            steps = [status("ringing", 0), status("canceled", 9, CallDuration="0")]
        elif story == "answered":
            wait = self.rng.randint(5, 120)
            steps += [queue(topic, "bridged", wait), status("completed", wait + 200, CallDuration=str(wait + 200))]
        elif story == "abandoned_callback":
            wait = self.rng.randint(60, 400)
            steps += [gather("callback", "1"), queue(topic, "leave", wait),
                      status("completed", wait + 30, CallDuration=str(wait + 30))]
        else:
            recording = {"AccountSid": base["AccountSid"], "CallSid": sid, "RecordingSid": "RE" + uuid.uuid4().hex,
                         "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{base['AccountSid']}/Recordings/RE{sid[2:]}",
                         "RecordingStatus": "completed", "RecordingDuration": "25", "RecordingChannels": "1",
                         "RecordingSource": "RecordVerb"}
            _, said = self.text(who, topic)
            steps += [(recording, ""), status("completed", 60, CallDuration="60"),
                      ({**base, "CallStatus": "completed", "TranscriptionSid": "TR" + uuid.uuid4().hex,
                        "TranscriptionText": said, "TranscriptionStatus": "completed",
                        "RecordingSid": recording["RecordingSid"], "RecordingUrl": recording["RecordingUrl"]}, "")]
        planned = [self._twilio("phone", "event", "/phone/twilio" + query, params) for params, query in steps]
        planned[-1].kind = "call_end"
        if self.rng.random() < 0.15:  # Twilio retried the final callback
            planned.append(Planned("phone", "retry", planned[-1].path, planned[-1].body, planned[-1].headers, planned[-1].expect))
        return planned

    def generic_call(self, who: Customer, topic: str | None = None) -> list[Planned]:
        call_id, start, n = uuid.uuid4().hex, datetime.now(timezone.utc), iter(range(1, 100))

        def event(type_: str, **fields: object) -> Planned:
            i = next(n)
            payload = {"platform": "demo-pbx", "call_id": call_id, "event_id": f"{call_id}-{i}", "type": type_,
                       "timestamp": (start + timedelta(seconds=10 * i)).isoformat(), **fields}
            return self._json("phone", "event", "/phone/events", payload, "phone_secret", 202)

        queue = topic or self.rng.choice(list(TEXTS))
        planned = [event("started", **{"from": who.phone, "to": HOTLINE}), event("menu", menu="main", choice="2"),
                   event("queued", queue=queue), event("answered", queue=queue, wait_seconds=self.rng.randint(3, 90)),
                   event("ended", status="completed", duration_seconds=self.rng.randint(60, 600))]
        planned[-1].kind = "call_end"
        return planned

    def phone_bad(self, who: Customer) -> list[Planned]:
        if self.rng.random() < 0.5:
            params = {"AccountSid": "AC" + "0" * 32, "CallStatus": "completed", "From": who.phone}  # no CallSid
            return [self._twilio("phone", "unnormalizable", "/phone/twilio", params)]
        payload = {"platform": "demo-pbx", "call_id": "c1", "event_id": uuid.uuid4().hex, "type": "teleported",
                   "timestamp": datetime.now(timezone.utc).isoformat()}
        return [self._json("phone", "unnormalizable", "/phone/events", payload, "phone_secret", 202, check=_dead_lettered)]

    # --- social (WeChat Official Account push, Meta WhatsApp / Messenger) ------------------------
    def wechat(self, who: Customer, topic: str | None = None, msg_id: str | None = None) -> list[Planned]:
        _, text = self.text(who, topic)
        openid = "o" + hashlib.sha1(who.visitor_id.encode()).hexdigest()[:27]
        created = str(int(time.time()))
        id_field = "" if msg_id == "" else f"<MsgId>{msg_id or self.rng.randrange(10**18, 10**19)}</MsgId>"
        body = (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{text}]]></Content>{id_field}</xml>").encode()
        token = self.signer.settings.secret(getattr(self.signer.settings, "wechat_token", None))
        query = {"openid": openid}
        if token is not None:
            nonce = str(self.rng.randrange(10**9))
            query.update(timestamp=created, nonce=nonce,
                         signature=hashlib.sha1("".join(sorted([token, created, nonce])).encode()).hexdigest())
        kind = "unnormalizable" if msg_id == "" else "good"
        first = Planned("social", kind, "/social/wechat?" + urlencode(query), body, {"content-type": "text/xml"},
                        frozenset({200}))
        if kind == "good" and self.rng.random() < 0.15:  # WeChat retries after 5 s without an answer
            return [first, Planned("social", "retry", first.path, first.body, first.headers, first.expect)]
        return [first]

    def meta(self, who: Customer, topic: str | None = None, broken: bool = False) -> list[Planned]:
        _, text = self.text(who, topic)
        now = int(time.time())
        if who.language == "zh" or self.rng.random() < 0.5:
            message = {"from": who.phone.lstrip("+"), "id": f"wamid.{uuid.uuid4().hex}", "timestamp": str(now),
                       "type": "text", "text": {"body": text}}
            if broken:
                del message["id"]
            payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
                "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "8610690012345", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": who.name}, "wa_id": who.phone.lstrip("+")}],
                    "messages": [message]}}]}]}
        else:
            message = {"mid": f"m_{uuid.uuid4().hex}", "text": text}
            if broken:
                del message["mid"]
            payload = {"object": "page", "entry": [{"id": "107250958810112", "time": now * 1000, "messaging": [{
                "sender": {"id": str(int(hashlib.sha1(who.visitor_id.encode()).hexdigest()[:12], 16))},
                "recipient": {"id": "107250958810112"}, "timestamp": now * 1000, "message": message}]}]}
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        secret = self.signer.settings.secret(getattr(self.signer.settings, "meta_app_secret", None))
        if secret is not None:
            headers["X-Hub-Signature-256"] = hmac_signature(secret, body)
        if broken:
            return [Planned("social", "unnormalizable", "/social/meta", body, headers, frozenset({200}),
                            lambda r: r.json().get("dead_letters") == 1)]
        first = Planned("social", "good", "/social/meta", body, headers, frozenset({200}),
                        lambda r: r.json().get("published") == 1)
        if self.rng.random() < 0.15:  # Meta retries anything not answered 200 in time
            return [first, Planned("social", "retry", first.path, body, headers, first.expect,
                                   lambda r: r.json().get("duplicates") == 1)]
        return [first]

    def social_bad(self, who: Customer) -> list[Planned]:
        return self.wechat(who, msg_id="") if self.rng.random() < 0.5 else self.meta(who, broken=True)

    def social(self, who: Customer, topic: str | None = None) -> list[Planned]:
        return self.wechat(who, topic) if self.rng.random() < 0.5 else self.meta(who, topic)

    # --- email (SMTP endpoint) ------------------------------------------------------------------
    def email(self, who: Customer, topic: str | None = None) -> list[Planned]:
        topic, text = self.text(who, topic)
        mail = EmailMessage()
        subject = {"shipping": "订单发货问题 / shipping", "return": "退货申请", "complaint": "投诉！", "warranty": "保修咨询"}[topic]
        mail["Subject"], mail["From"], mail["To"] = subject, f"{who.name} <{who.email}>", self.mail_to
        mail["Message-ID"], mail["Date"] = make_msgid(domain="mail.example.cn"), format_datetime(datetime.now(timezone.utc))
        charset = "gbk" if who.language == "zh" and self.rng.random() < 0.5 else "utf-8"
        mail.set_content(text + "\n\n-- \n" + who.name, charset=charset)
        if self.rng.random() < 0.3:
            mail.add_alternative(f"<html><body><p>{escape(text)}</p></body></html>", subtype="html", charset="utf-8")
        kind = "good"
        if self.rng.random() < 0.1:  # an out-of-office answer: accepted, never a contact
            mail["Auto-Submitted"], kind = "auto-replied", "auto_reply"
        return [Planned("email", kind, "smtp", mail.as_bytes(), {}, frozenset({250}), mail=(who.email, self.mail_to))]

    # --- mix ----------------------------------------------------------------------------------
    def repeat_contact(self, who: Customer) -> list[Planned]:
        """The same customer about the same issue on two or three channels in a row."""
        topic = self.rng.choice(["shipping", "complaint", "return"])
        order = self.rng.choice(who.orders)
        pinned = Customer(who.name, who.phone, who.email, who.language, (order,), who.visitor_id, who.ip)
        makers = [m for m in (self.webform, self.chat, self.sms, self.twilio_call, self.social, self.email)
                  if self.offers(m)]
        channels = self.rng.sample(makers, k=min(len(makers), self.rng.randint(2, 3)))
        return [p for make in channels for p in make(pinned, topic)]

    def offers(self, maker: Callable[..., list[Planned]]) -> bool:
        """Whether the gateway serves the endpoint a scenario needs."""
        needs = {self.social: ("/social/wechat", "/social/meta"), self.social_bad: ("/social/wechat", "/social/meta")}
        if maker == self.email:
            return self.mail_to is not None
        return all(path in self.paths for path in needs.get(maker, ()))

    def next(self) -> list[Planned]:
        who = self.rng.choice(self.people)
        makers: list[tuple[float, Callable[[Customer], list[Planned]]]] = [
            (0.14, self.webform), (0.14, self.chat), (0.12, self.sms), (0.09, self.twilio_call), (0.04, self.generic_call),
            (0.10, self.social), (0.08, self.email), (0.10, self.repeat_contact), (0.05, self.webform_bad),
            (0.04, self.chat_bad), (0.04, self.sms_bad), (0.03, self.phone_bad), (0.03, self.social_bad),
        ]
        weights, functions = zip(*[(w, m) for w, m in makers if self.offers(m)], strict=True)
        return self.rng.choices(functions, weights)[0](who)

    def __iter__(self) -> Iterator[list[Planned]]:
        while True:
            yield self.next()


class Pacer:
    """Spaces requests at ``rate`` per second across all concurrent sequences."""

    def __init__(self, rate: float) -> None:
        self.interval, self.next_slot = 1.0 / rate, time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self.next_slot, now)
        self.next_slot = slot + self.interval
        await asyncio.sleep(slot - now)


def _smtp_send(address: tuple[str, int], planned: Planned) -> int:
    """SMTP status of the DATA answer (the endpoint answers 250 only after Kafka acknowledged)."""
    sender, recipient = planned.mail  # type: ignore[misc]
    try:
        with smtplib.SMTP(*address, timeout=30) as client:
            client.sendmail(sender, [recipient], planned.body)
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code
    except smtplib.SMTPRecipientsRefused as exc:
        return next(iter(exc.recipients.values()))[0]
    return 250


async def _send(http: httpx.AsyncClient, smtp: tuple[str, int] | None, planned: Planned, counts: Counter[str],
                report: Callable[[str], None]) -> None:
    if planned.mail is not None and smtp is not None:
        try:
            code = await asyncio.to_thread(_smtp_send, smtp, planned)
        except OSError as exc:
            counts["unexpected"] += 1
            report(f"email:{planned.kind}: {exc!r}")
            return
        counts["sent"] += 1
        counts[f"{planned.channel}:{planned.kind}"] += 1
        counts["as_expected" if code in planned.expect else "unexpected"] += 1
        if code not in planned.expect:
            report(f"email:{planned.kind} -> SMTP {code}")
        return
    try:
        response = await http.post(planned.path, content=planned.body, headers=planned.headers)
    except httpx.HTTPError as exc:
        counts["unexpected"] += 1
        report(f"{planned.channel}:{planned.kind} {planned.path}: {exc!r}")
        return
    counts["sent"] += 1
    counts[f"{planned.channel}:{planned.kind}"] += 1
    if response.status_code == 429 and planned.channel == "webform":
        counts["rate_limited"] += 1
    elif response.status_code in planned.expect and (planned.check is None or planned.check(response)):
        counts["as_expected"] += 1
    else:
        counts["unexpected"] += 1
        report(f"{planned.channel}:{planned.kind} {planned.path} -> {response.status_code} {response.text[:200]}")


async def _endpoints(http: httpx.AsyncClient) -> frozenset[str]:
    """The gateway's HTTP endpoints, from its OpenAPI document."""
    response = await http.get("/openapi.json")
    response.raise_for_status()
    return frozenset(response.json()["paths"])


def _smtp_answers(address: tuple[str, int]) -> bool:
    try:
        with smtplib.SMTP(*address, timeout=5) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


async def run_traffic(base_url: str, rate: float = 5.0, duration: float | None = None,
                      secrets: GatewaySettings | None = None, seed: int | None = None,
                      concurrency: int = 16, smtp: tuple[str, int] | None = None,
                      mail_to: str | None = None) -> dict[str, int]:
    """Send sample traffic at ``rate`` requests/s for ``duration`` seconds (forever when None).

    Channels follow what is running: HTTP channels the gateway's OpenAPI lists, email when
    an SMTP endpoint answers at ``smtp`` (default: ``EmailSettings``' host and port).
    Sequences started before the deadline are finished (a call is not left half-way), so
    the run may overshoot the deadline by a few requests.
    """
    settings = secrets or GatewaySettings()
    from connectors.email.settings import EmailSettings

    email = EmailSettings()
    if smtp is None and email.smtp_enabled:
        smtp = (email.smtp_host, email.smtp_port)
    mail_to = mail_to or f"service@{email.smtp_domains[0] if email.smtp_domains else 'shop.example.cn'}"
    if smtp is not None and not await asyncio.to_thread(_smtp_answers, smtp):
        smtp = None
    pacer, counts = Pacer(rate), Counter[str]()
    deadline = None if duration is None else time.monotonic() + duration
    gate = asyncio.Semaphore(concurrency)
    reported = 0

    def report(line: str) -> None:
        nonlocal reported
        if reported < 20:
            print(f"traffic: unexpected answer: {line}", file=sys.stderr, flush=True)
        reported += 1

    async def play(sequence: list[Planned]) -> None:
        async with gate:
            for planned in sequence:
                await pacer.wait()
                await _send(http, smtp, planned, counts, report)

    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        scenarios = Scenarios(Signer(base_url, settings), random.Random(seed), paths=await _endpoints(http),
                              mail_to=mail_to if smtp is not None else None)
        tasks: set[asyncio.Task] = set()
        for sequence in scenarios:
            if deadline is not None and time.monotonic() >= deadline:
                break
            while len(tasks) >= concurrency:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a bug in a scenario must not pass silently
            tasks.add(asyncio.create_task(play(sequence)))
        for task in asyncio.as_completed(tasks):
            await task
    return dict(counts)
