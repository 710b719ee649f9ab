"""Cut quoted history out of a reply so downstream sees only what the customer just wrote.

The full message stays on the raw topic; this only shapes ``Contact.body``. Covers the
separators real clients write: Gmail/Apple ("On ... wrote:", "在 ... 写道："), Outlook
("-----Original Message-----", a From:/发件人: header block), QQ/NetEase Mail
("------------------ 原始邮件 ------------------") and ``>`` quoted lines.
"""
from __future__ import annotations

import re

_SEPARATORS = [
    re.compile(r"^\s*On\s.{1,300}\swrote:\s*$", re.I | re.S),
    re.compile(r"^\s*在.{1,300}写道\s*[:：]\s*$", re.S),
    re.compile(r"^\s*-{2,}\s*(Original Message|原始邮件|原邮件|Reply message|回复的原邮件)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{8,}\s*$"),
]
_HEADER_START = re.compile(r"^\s*\*?(From|发件人)\s*\*?\s*[:：]", re.I)
_HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|To|Subject|发送时间|日期|时间|收件人|主题)\s*\*?\s*[:：]", re.I)


def _cut_at(lines: list[str]) -> int:
    """Index of the first line of quoted history, or len(lines)."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        two = line + " " + lines[i + 1] if i + 1 < len(lines) else line  # clients wrap long "On ... wrote:" lines
        if any(p.match(line) or p.match(two) for p in _SEPARATORS):
            return i
        if _HEADER_START.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1:i + 5]):
            return i
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new part of a reply; the whole text when nothing but quotes would remain."""
    lines = text.splitlines()
    kept = [line for line in lines[:_cut_at(lines)] if not line.lstrip().startswith(">")]
    new = "\n".join(kept).strip()
    return new or text.strip()
