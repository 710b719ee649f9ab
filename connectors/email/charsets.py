"""Text decoding for real-world mail, Chinese mail in particular.

Mail labelled GB2312 routinely carries GBK characters (GB2312 has ~7,000 hanzi, people
type more), so every GB label decodes as GB18030, the superset of both. Undeclared 8-bit
text is tried as UTF-8, then GB18030. Nothing here raises: a wrong label yields
replacement characters, never a lost message.
"""
from __future__ import annotations

import codecs
from email.header import decode_header

#: labels whose text is decoded as GB18030 (a strict superset of GB2312 and GBK)
GB_LABELS = frozenset({"gb2312", "gbk", "x-gbk", "cp936", "ms936", "euc-cn", "csgb2312", "gb_2312-80", "gb18030",
                       "x-euc-cn", "chinese", "hz-gb-2312-8bit"})


def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when unknown."""
    if not label:
        return None
    label = label.strip().strip('"').lower()
    if label in GB_LABELS:
        return "gb18030"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return "gb18030" if name in ("gb2312", "gbk") else name


def decode_bytes(data: bytes, label: str | None) -> tuple[str, bool]:
    """(text, clean): clean is False when replacement characters had to be used."""
    tried = [codec_for(label)] if codec_for(label) else []
    tried += [c for c in ("utf-8", "gb18030") if c not in tried]
    for codec in tried:
        try:
            return data.decode(codec), True
        except UnicodeDecodeError:
            continue
    return data.decode(tried[0], errors="replace"), False


def header_text(raw: str | None) -> str:
    """Decode a raw header value: RFC 2047 encoded words and raw 8-bit bytes, unfolded."""
    if not raw:
        return ""
    parts = []
    for chunk, label in decode_header(raw):
        if isinstance(chunk, str):  # no encoded words; 8-bit bytes arrive surrogate-escaped
            chunk = chunk.encode("utf-8", "surrogateescape")
        parts.append(decode_bytes(chunk, label)[0])
    return " ".join("".join(parts).split())
