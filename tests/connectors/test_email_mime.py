"""MIME normalization of real-shaped mail: charsets, HTML-only, attachments, threading, auto-replies, bounces."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from connectors.email.classify import classify
from connectors.email.mime import Unnormalizable, parse, to_contact
from connectors.email.quotes import strip_quoted
from connectors.email.settings import EmailSettings
from schemas import ContactKind

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)


def contact(name_or_bytes: str | bytes, **limits: object):
    data = name_or_bytes if isinstance(name_or_bytes, bytes) else (DATA / name_or_bytes).read_bytes()
    return to_contact(data, "smtp", NOW, EmailSettings(**limits))


def test_gbk_mail_labelled_gb2312_decodes_with_gbk_only_characters_and_strips_the_quote() -> None:
    c = contact("gbk_reply.eml")
    assert c.subject == "回复：订单还没发货（镕）"  # 镕 is GBK, not GB2312
    assert c.customer.email == "zhangsan@qq.com" and c.customer.name == "张三"
    assert "订单号 A20261115-0087" in c.body and "镕铁外壳" in c.body
    assert "写道" not in c.body and "预计三个工作日" not in c.body
    assert c.provider_message_id == "<tencent_3F2A9C1B7E@qq.com>"
    assert c.thread.in_reply_to == "<20261120011200.ABC123@shop.example.cn>"
    assert c.thread.references == ["<20261119080000.XYZ789@shop.example.cn>", "<20261120011200.ABC123@shop.example.cn>"]
    assert c.kind is ContactKind.MESSAGE


def test_utf8_multipart_prefers_plain_text_and_keeps_attachment_metadata_only() -> None:
    c = contact("utf8_multipart.eml")
    assert c.subject == "Missing lid – order B-5521"
    assert c.body.startswith("Hello,") and c.body.endswith("Alice Smith")
    assert "Original Message" not in c.body and "on its way" not in c.body
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
    [att] = c.attachments  # the HTML alternative is not an attachment
    assert (att.filename, att.content_type, att.size_bytes, att.sha256) == (
        "receipt.pdf", "application/pdf", len(pdf), hashlib.sha256(pdf).hexdigest())
    assert c.attributes["cc"] == "bob@example.org"
    assert c.customer.email == "alice.smith@example.org"


def test_html_only_mail_becomes_text_without_styles_or_quoted_blocks() -> None:
    c = contact("html_only.eml")
    assert c.subject == "预约上门维修" and c.customer.name == "李四"
    assert c.body == "你好，我想预约周六上午的上门维修服务。\nPhone: 138 0013 8000\nThanks!"


def test_auto_reply_and_bounce_are_marked_so_they_never_open_a_contact() -> None:
    auto = contact("auto_reply.eml")
    assert auto.kind is ContactKind.AUTO_REPLY and auto.attributes["kind_reason"] == "Auto-Submitted: auto-replied"
    bounce = contact("bounce.eml")
    assert bounce.kind is ContactKind.BOUNCE
    assert bounce.attributes["bounce_final_recipient"] == "nobody@example.net"
    assert bounce.attributes["bounce_status"] == "5.1.1"
    assert bounce.attributes["bounce_original_message_id"] == "<survey-99@shop.example.cn>"
    assert [a.content_type for a in bounce.attachments] == ["message/delivery-status"]


def _stdlib_message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "客户 <kehu@example.cn>")
    msg["To"] = "service@shop.example.cn"
    msg["Subject"] = headers.pop("Subject", "发票问题")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def test_stdlib_built_gb18030_mail_with_chinese_attachment_name() -> None:
    msg = _stdlib_message(Message_ID="<gb18030-1@example.cn>")
    msg.set_content("请开具增值税专用发票，谢谢。𠮷", charset="gb18030", cte="quoted-printable")
    msg["Content-Language"] = "zh-CN"
    msg.add_attachment(b"\x89PNG fake image bytes", maintype="image", subtype="png", filename="发票截图.png")
    c = contact(msg.as_bytes())
    assert c.language == "zh-CN"
    assert c.body == "请开具增值税专用发票，谢谢。𠮷" and c.subject == "发票问题" and c.customer.name == "客户"
    assert c.attachments[0].filename == "发票截图.png" and c.attachments[0].size_bytes == 21


def test_raw_8bit_gbk_without_charset_label_falls_back_to_gb18030() -> None:
    data = ("From: kehu@example.cn\r\nSubject: 退货\r\nMessage-ID: <8bit@example.cn>\r\n"
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n我要退货，商品有质量问题。\r\n").encode("gbk")
    c = contact(data)
    assert c.subject == "退货" and c.body == "我要退货，商品有质量问题。"


def test_message_without_message_id_gets_a_stable_hash_id() -> None:
    msg = _stdlib_message()
    msg.set_content("no id here")
    first, again = contact(msg.as_bytes()), contact(msg.as_bytes())
    assert first.provider_message_id.startswith("sha256:") and first.provider_message_id == again.provider_message_id


def test_limits_truncate_body_and_cap_attachments() -> None:
    msg = _stdlib_message(Message_ID="<caps@example.cn>")
    msg.set_content("x" * 500)
    for i in range(4):
        msg.add_attachment(bytes([i]) * 10, maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    c = contact(msg.as_bytes(), max_body_chars=100, max_attachments=3)
    assert len(c.body) == 100 and c.attributes["body_truncated"] == "true"
    assert len(c.attachments) == 3 and c.attributes["attachments_omitted"] == "1"


@pytest.mark.parametrize("data, cause", [
    (b"To: service@shop.example.cn\r\nSubject: who am I\r\n\r\nno sender\r\n", "no sender address"),
    (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\nno boundary anywhere\r\n",
     "multipart structure is broken"),
])
def test_parseable_but_unnormalizable_mail_raises_with_the_cause(data: bytes, cause: str) -> None:
    with pytest.raises(Unnormalizable, match=cause):
        contact(data)


@pytest.mark.parametrize("headers, kind", [
    ({"Precedence": "bulk"}, ContactKind.AUTO_REPLY),
    ({"X-Autorespond": "vacation"}, ContactKind.AUTO_REPLY),
    ({"Auto-Submitted": "no"}, ContactKind.MESSAGE),
    ({"Subject": "Automatic reply: your order"}, ContactKind.AUTO_REPLY),
    ({"From": "MAILER-DAEMON@mx.example.com", "Subject": "Delivery Status Notification (Failure)"}, ContactKind.BOUNCE),
    ({}, ContactKind.MESSAGE),
])
def test_classification_signals(headers: dict[str, str], kind: ContactKind) -> None:
    msg = _stdlib_message(**headers)
    msg.set_content("text")
    sender = msg["From"].addresses[0].addr_spec.lower()
    assert classify(parse(msg.as_bytes()), sender, str(msg["Subject"]))[0] is kind


@pytest.mark.parametrize("text, expected", [
    ("Thanks, that works.\n\nOn Fri, Nov 20, 2026 at 9:00 AM Shop Support <support@shop.example.com>\nwrote:\n> old", "Thanks, that works."),
    ("收到，谢谢。\n\n发件人: 客服 <service@shop.example.cn>\n发送时间: 2026年11月20日 9:00\n收件人: 我\n主题: 订单\n\n旧内容", "收到，谢谢。"),
    ("好的\n------------------ 原始邮件 ------------------\n发件人: x", "好的"),
    ("Yes please.\n> quoted line\n>> deeper\nAnd more.", "Yes please.\nAnd more."),
    ("> only quotes here\n> nothing new", "> only quotes here\n> nothing new"),
    ("From: the start of my story, I bought it in May.", "From: the start of my story, I bought it in May."),
])
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected
