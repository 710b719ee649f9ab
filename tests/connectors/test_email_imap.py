"""IMAP poller against a real Dovecot (Debian ``dovecot-imapd``) started by the test, and real Kafka."""
from __future__ import annotations

import asyncio
import grp
import imaplib
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from connectors.email.deliver import MailIntake, Outcome
from connectors.email.imap import ImapPoller
from connectors.email.service import EmailService
from connectors.email.settings import EmailSettings
from connectors.publisher import Publisher
from schemas import ContactKind
from schemas.settings import KafkaSettings

from .conftest import Landed

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(DOVECOT is None, reason="dovecot binary absent: apt-get install dovecot-imapd")]
DATA = Path(__file__).parent / "data"
USER, PASSWORD = "desk@shop.example.cn", "s3cret-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, mail: Path, port: int) -> Path:
    """A self-contained Dovecot: loopback, plaintext auth, one passwd-file user, maildir under ``mail``.

    Dovecot never gives mail access to root, so as root the mailbox belongs to ``nobody``
    (in its own temp dir); auth runs as the invoking user because pytest's temp dirs are
    private (0700). As a normal user every Dovecot process simply runs as that user.
    """
    me = pwd.getpwuid(os.getuid())
    owner = pwd.getpwnam("nobody") if os.getuid() == 0 else me
    os.chown(mail, owner.pw_uid, owner.pw_gid)
    internal = "dovecot" if os.getuid() == 0 else me.pw_name
    login = "dovenull" if os.getuid() == 0 else me.pw_name
    group = "dovecot" if os.getuid() == 0 else grp.getgrgid(me.pw_gid).gr_name
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:::::\n")
    conf = root / "dovecot.conf"
    conf.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
mail_location = maildir:{mail}/%u
mail_uid = {owner.pw_uid}
mail_gid = {owner.pw_gid}
mail_home = {mail}/home/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service auth {{
  user = {me.pw_name}
}}
service auth-worker {{
  user = {me.pw_name}
}}
""")
    return conf


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    mail = Path(tempfile.mkdtemp(prefix="intake-imap-"))
    conf = _config(tmp_path, mail, port)
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:  # ready when the login process greets, not merely when the port is bound
                imaplib.IMAP4("127.0.0.1", port, timeout=2).logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "dovecot.log")
                    pytest.fail(f"dovecot did not start: {proc.stdout.read().decode() if proc.stdout else ''}"
                                f"{log.read_text() if log.exists() else ''}")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(mail, ignore_errors=True)


def _append(port: int, *messages: bytes, folder: str = "INBOX") -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(USER, PASSWORD)
    for data in messages:
        assert client.append(folder, None, imaplib.Time2Internaldate(time.time()), data)[0] == "OK"
    client.logout()


def _folder_state(port: int, folder: str) -> tuple[int, list[bytes]]:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(USER, PASSWORD)
    count = int(client.select(folder)[1][0])
    flags = [f for f in client.fetch("1:*", "(FLAGS)")[1] if f] if count else []
    client.logout()
    return count, flags


def _settings(port: int, **extra: object) -> EmailSettings:
    return EmailSettings(imap_host="127.0.0.1", imap_port=port, imap_security="plain", imap_user=USER,
                         imap_password=PASSWORD, **extra)


@pytest.fixture
async def publisher(kafka_settings: KafkaSettings) -> AsyncIterator[Publisher]:
    pub = Publisher(kafka_settings, publish_timeout=10.0)
    yield pub
    pub.close()


async def test_poll_publishes_each_message_once_and_marks_it_only_after_the_ack(
        dovecot: int, publisher: Publisher, landed: Landed) -> None:
    broken = b"To: desk@shop.example.cn\r\nSubject: no sender\r\n\r\nbody\r\n"
    _append(dovecot, *[(DATA / n).read_bytes() for n in ("gbk_reply.eml", "html_only.eml", "bounce.eml")], broken)
    settings = _settings(dovecot)

    first = await ImapPoller(MailIntake(publisher, settings), settings).poll_once()
    assert sorted(first.outcomes.values()) == sorted([Outcome.PUBLISHED] * 3 + [Outcome.DEAD_LETTER])
    events = {e.data.provider_message_id: e.data for e in landed.contacts()}
    assert set(events) == {"<tencent_3F2A9C1B7E@qq.com>", "<html-only-42@example.cn>",
                           "<20261121020500.1A2B3C4D5E@mx.shop.example.cn>"}
    gbk = events["<tencent_3F2A9C1B7E@qq.com>"]
    assert gbk.provider == "imap" and gbk.subject == "回复：订单还没发货（镕）" and gbk.customer.name == "张三"
    assert events["<20261121020500.1A2B3C4D5E@mx.shop.example.cn>"].kind is ContactKind.BOUNCE
    [letter] = landed.dead_letters()
    assert "no sender address" in letter.data.cause

    count, flags = _folder_state(dovecot, "INBOX")
    assert count == 4 and all(b"$IntakeProcessed" in f for f in flags) and not any(b"\\Seen" in f for f in flags)

    again = await ImapPoller(MailIntake(publisher, settings), settings).poll_once()  # a fresh process: no memory
    assert again.outcomes == {} and len(landed.contacts()) == 3 and len(landed.dead_letters()) == 1


async def test_processed_mail_moves_to_a_folder_and_new_mail_is_picked_up_next_poll(
        dovecot: int, publisher: Publisher, landed: Landed) -> None:
    client = imaplib.IMAP4("127.0.0.1", dovecot)
    client.login(USER, PASSWORD)
    assert client.create("Processed")[0] == "OK"
    client.logout()
    settings = _settings(dovecot, imap_processed_folder="Processed")
    poller = ImapPoller(MailIntake(publisher, settings), settings)
    _append(dovecot, (DATA / "utf8_multipart.eml").read_bytes())
    assert list((await poller.poll_once()).outcomes.values()) == [Outcome.PUBLISHED]
    _append(dovecot, (DATA / "auto_reply.eml").read_bytes())
    assert list((await poller.poll_once()).outcomes.values()) == [Outcome.PUBLISHED]
    assert _folder_state(dovecot, "INBOX")[0] == 0 and _folder_state(dovecot, "Processed")[0] == 2
    kinds = sorted(e.data.kind for e in landed.contacts())
    assert kinds == [ContactKind.AUTO_REPLY, ContactKind.MESSAGE]


async def test_kafka_unavailable_leaves_mail_unmarked_for_the_next_poll(dovecot: int, kafka_settings: KafkaSettings, landed: Landed) -> None:
    _append(dovecot, (DATA / "html_only.eml").read_bytes())
    settings = _settings(dovecot)
    down = Publisher(KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="down"), publish_timeout=1.0)
    try:
        result = await ImapPoller(MailIntake(down, settings), settings).poll_once()
    finally:
        down.close(timeout=1.0)
    assert result.outcomes == {} and len(result.deferred) == 1
    assert not any(b"$IntakeProcessed" in f for f in _folder_state(dovecot, "INBOX")[1])

    up = Publisher(kafka_settings, publish_timeout=10.0)
    try:
        retried = await ImapPoller(MailIntake(up, settings), settings).poll_once()
    finally:
        up.close()
    assert list(retried.outcomes.values()) == [Outcome.PUBLISHED]
    assert [e.data.provider_message_id for e in landed.contacts()] == ["<html-only-42@example.cn>"]


async def test_oversized_message_is_dead_lettered_with_its_header_and_marked(
        dovecot: int, publisher: Publisher, landed: Landed) -> None:
    _append(dovecot, (DATA / "utf8_multipart.eml").read_bytes())
    settings = _settings(dovecot, max_message_bytes=1000)
    result = await ImapPoller(MailIntake(publisher, settings), settings).poll_once()
    assert list(result.outcomes.values()) == [Outcome.DEAD_LETTER]
    [letter] = landed.dead_letters()
    assert "exceeds max_message_bytes=1000" in letter.data.cause and "Message-ID: <CAF=abc123" in letter.data.payload
    assert "receipt.pdf" not in letter.data.payload and landed.contacts() == []


async def test_email_service_polls_in_the_background_until_stopped(
        dovecot: int, publisher: Publisher, landed: Landed) -> None:
    settings = _settings(dovecot, imap_poll_seconds=0.2, smtp_port=0)
    service = EmailService(publisher, settings)
    await service.start()
    try:
        _append(dovecot, (DATA / "gbk_reply.eml").read_bytes())
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(_all_processed, dovecot) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.to_thread(_smtp_send, service.smtp.port, (DATA / "html_only.eml").read_bytes())  # SMTP runs too
    finally:
        await service.stop()
    assert _all_processed(dovecot)
    assert sorted(e.data.provider for e in landed.contacts()) == ["imap", "smtp"]


def _smtp_send(port: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("a@example.org", ["desk@shop.example.cn"], data)


def _all_processed(port: int) -> bool:
    count, flags = _folder_state(port, "INBOX")
    return count > 0 and all(b"$IntakeProcessed" in f for f in flags)


async def test_a_crash_between_ack_and_mark_republishes_under_the_same_event_id(
        dovecot: int, publisher: Publisher, landed: Landed) -> None:
    _append(dovecot, (DATA / "gbk_reply.eml").read_bytes())
    settings = _settings(dovecot)
    await ImapPoller(MailIntake(publisher, settings), settings).poll_once()
    client = imaplib.IMAP4("127.0.0.1", dovecot)  # the mark never happened: a crash right after the ack
    client.login(USER, PASSWORD)
    client.select("INBOX")
    client.store("1", "-FLAGS", "($IntakeProcessed)")
    client.logout()
    again = await ImapPoller(MailIntake(publisher, settings), settings).poll_once()
    assert list(again.outcomes.values()) == [Outcome.PUBLISHED]  # at least once ...
    first, second = landed.contacts()
    assert first.id == second.id and first.dedup_key == second.dedup_key  # ... and downstream collapses it
