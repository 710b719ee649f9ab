"""IMAP mailbox poller (stdlib imaplib, run in a worker thread).

Each poll selects the folder, searches ``UNDELETED UNKEYWORD <processed keyword>`` and
hands each message (fetched with ``BODY.PEEK[]``, so a human's unread state is untouched)
to :class:`MailIntake`. Only after Kafka acknowledged does it set the keyword (and move the
message when a processed folder is configured). A crash between ack and mark re-publishes
the same Message-ID next poll, which maps to the same event id: nothing lost, nothing doubled.
"""
from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field
from datetime import datetime

from ..metrics import REJECTED
from ..publisher import PublishUnavailable
from .deliver import MailIntake, Outcome
from .settings import EmailSettings

log = logging.getLogger(__name__)
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(RuntimeError):
    """The server refused a command; the poll stops and the next one retries."""


def _ok(response: tuple[str, list]) -> list:
    typ, data = response
    if typ != "OK":
        raise ImapError(f"{typ}: {data!r}")
    return data


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """A blocking IMAP session on one folder; every method runs in a worker thread."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        host, port, timeout = settings.imap_host or "", settings.imap_port, settings.imap_timeout
        if settings.imap_security == "ssl":
            self.conn = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
        else:
            self.conn = imaplib.IMAP4(host, port, timeout=timeout)
            if settings.imap_security == "starttls":
                self.conn.starttls(ssl.create_default_context())
        password = settings.imap_password.get_secret_value() if settings.imap_password else ""
        _ok(self.conn.login(settings.imap_user or "", password))
        # servers announce MOVE / UIDPLUS only after login; imaplib keeps the pre-login list
        self.capabilities = set(_ok(self.conn.capability())[0].decode().upper().split())
        _ok(self.conn.select(_quote(settings.imap_folder)))
        self.uidvalidity = (self.conn.untagged_responses.get("UIDVALIDITY") or [b"0"])[0].decode()
        permanent = b" ".join(self.conn.untagged_responses.get("PERMANENTFLAGS") or [b""])
        self.keywords = b"\\*" in permanent or settings.imap_processed_keyword.encode() in permanent
        if not self.keywords and not settings.imap_processed_folder:
            raise ImapError(f"{settings.imap_folder} does not accept keywords (PERMANENTFLAGS {permanent!r}); "
                            "set INTAKE_EMAIL_IMAP_PROCESSED_FOLDER so processed mail is moved instead")

    def pending(self) -> list[int]:
        data = _ok(self.conn.uid("SEARCH", None, "UNDELETED", "UNKEYWORD", self.settings.imap_processed_keyword))
        return sorted(int(u) for u in (data[0] or b"").split())[: self.settings.imap_batch]

    def _fetch(self, uid: int, items: str) -> tuple[bytes, bytes]:
        """(response line, literal) of one UID FETCH; literal is b'' when none was asked for."""
        for item in _ok(self.conn.uid("FETCH", str(uid), items)):
            if isinstance(item, tuple):
                return item[0], item[1]
            if isinstance(item, bytes) and b"UID" in item:
                return item, b""
        raise ImapError(f"UID {uid} vanished before it was fetched")

    def size(self, uid: int) -> int:
        line, _ = self._fetch(uid, "(UID RFC822.SIZE)")
        found = _SIZE.search(line)
        return int(found.group(1)) if found else 0

    def fetch(self, uid: int, headers_only: bool = False) -> tuple[bytes, datetime | None]:
        """The message (or only its header) and INTERNALDATE, when the mailbox received it."""
        line, data = self._fetch(uid, "(UID INTERNALDATE BODY.PEEK[HEADER])" if headers_only else "(UID INTERNALDATE BODY.PEEK[])")
        found = _INTERNALDATE.search(line)
        when = datetime.strptime(found.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z") if found else None
        return data, when

    def mark_processed(self, uid: int) -> None:
        if self.keywords:
            _ok(self.conn.uid("STORE", str(uid), "+FLAGS.SILENT", f"({self.settings.imap_processed_keyword})"))
        target = self.settings.imap_processed_folder
        if not target:
            return
        if "MOVE" in self.capabilities:
            _ok(self.conn.uid("MOVE", str(uid), _quote(target)))
        else:
            _ok(self.conn.uid("COPY", str(uid), _quote(target)))
            _ok(self.conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)"))
            # UID EXPUNGE (UIDPLUS) removes only this message, not whatever else is marked \Deleted
            _ok(self.conn.uid("EXPUNGE", str(uid)) if "UIDPLUS" in self.capabilities else self.conn.expunge())

    def close(self) -> None:
        try:
            self.conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


@dataclass
class PollResult:
    """What one poll did, by UID; ``deferred`` UIDs stay unmarked for the next poll."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)


class ImapPoller:
    def __init__(self, intake: MailIntake, settings: EmailSettings) -> None:
        self.intake = intake
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def poll_once(self) -> PollResult:
        """Publish every unprocessed message once; stops early (deferring the rest) if Kafka cannot ack."""
        result = PollResult()
        box = await asyncio.to_thread(Mailbox, self.settings)
        origin = f"imap://{self.settings.imap_user}@{self.settings.imap_host}/{self.settings.imap_folder}"
        try:
            pending = await asyncio.to_thread(box.pending)
            for i, uid in enumerate(pending):
                if self._stop.is_set():
                    result.deferred = pending[i:]
                    break
                headers = {"x-imap-uid": str(uid), "x-imap-uidvalidity": box.uidvalidity}
                size = await asyncio.to_thread(box.size, uid)
                oversized = size > self.settings.max_message_bytes
                data, when = await asyncio.to_thread(box.fetch, uid, oversized)
                try:
                    if oversized:
                        outcome, _ = await self.intake.too_large(data, size, "imap", origin, headers, when)
                    else:
                        outcome, _ = await self.intake.ingest(data, "imap", origin, headers, when)
                except PublishUnavailable as exc:
                    REJECTED.labels("email", "unavailable").inc()
                    log.warning("IMAP poll deferred %d messages, Kafka unavailable: %s", len(pending) - i, exc)
                    result.deferred = pending[i:]
                    break
                await asyncio.to_thread(box.mark_processed, uid)
                result.outcomes[uid] = outcome
        finally:
            await asyncio.to_thread(box.close)
        return result

    async def run(self) -> None:
        """Poll until stopped; a failing poll is logged and retried after the interval."""
        while not self._stop.is_set():
            try:
                result = await self.poll_once()
                if len(result.outcomes) == self.settings.imap_batch:
                    continue  # a full batch: more may be waiting
            except (OSError, imaplib.IMAP4.error, ImapError) as exc:
                log.warning("IMAP poll of %s failed: %s", self.settings.imap_host, exc)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.imap_poll_seconds)
            except asyncio.TimeoutError:
                pass

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="imap-poller")

    async def stop(self) -> None:
        """Finish the message in hand, then stop (a poll is never cut between ack and mark)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
