"""HTML-only mail to plain text (BeautifulSoup), dropping quoted blocks clients mark up."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup

_BLOCKS = ("p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "section")
#: containers mail clients put quoted history in (Gmail, Outlook web, Apple, Yahoo, QQ)
_QUOTED = ("blockquote", ".gmail_quote", "#divRplyFwdMsg", "#appendonsend", ".yahoo_quoted", "#isReplyContent")


def html_to_text(html: str, drop_quoted: bool = True) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "meta"]):
        tag.decompose()
    if drop_quoted:
        for selector in _QUOTED:
            for tag in soup.select(selector):
                tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_after("\n")
    text = soup.get_text().replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
