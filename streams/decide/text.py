"""Text normalisation, keyword matching and similarity for Chinese and English.

Chinese has no spaces, so similarity uses character bigrams of CJK runs and words for
Latin text; both become 32-bit CRC shingles (stable across processes, unlike ``hash``),
kept as a bottom-k sketch so a case stores a bounded, comparable summary of its text.
Keyword families compile into one regular expression each (longest keyword first), so
a contact's text is scanned once per family however many rules there are.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKENS = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_CJK_RUN = re.compile(rf"[{_CJK}]")
_ASCII_WORD = re.compile(r"[a-z0-9]")
STOPWORDS = frozenset(
    "a an the and or but to of in on at for from with by is are was were be been it its this that these those "
    "i me my we our you your he she they them his her hi hello dear please thanks thank regards can could would "
    "will do does did have has had not no yes so if as about there here what when how why which who".split())


def normalize(text: str) -> str:
    """NFKC (full-width to half-width, compatibility forms) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def shingles(text: str) -> set[int]:
    """CJK character bigrams (a lone character stands for itself) and non-stopword words."""
    out: set[int] = set()
    for token in _TOKENS.findall(text):
        if token[0] <= "z":  # ASCII word
            if len(token) > 1 and token not in STOPWORDS:
                out.add(zlib.crc32(token.encode()))
        elif len(token) == 1:
            out.add(zlib.crc32(token.encode()))
        else:
            for i in range(len(token) - 1):
                out.add(zlib.crc32(token[i:i + 2].encode()))
    return out


def sketch(hashes: Iterable[int], k: int) -> list[int]:
    """Bottom-k sketch: the k smallest hashes, sorted."""
    return sorted(set(hashes))[:k]


def similarity(a: Sequence[int], b: Sequence[int], k: int) -> float:
    """Jaccard estimate from two bottom-k sketches (exact when both sets have <= k elements)."""
    if not a or not b:
        return 0.0
    union = sorted(set(a) | set(b))[:k]
    sa, sb = set(a), set(b)
    both = sum(1 for h in union if h in sa and h in sb)
    return both / len(union)


@dataclass(frozen=True, slots=True)
class Hit:
    rule: int       # index of the rule in the family
    keyword: str    # the text that matched
    start: int


class KeywordFamily:
    """Literal keywords of several rules, matched in one pass; English keywords on word boundaries."""

    def __init__(self, rules: Sequence[Iterable[str]]) -> None:
        alternatives: list[tuple[str, int]] = []
        for index, keywords in enumerate(rules):
            for kw in keywords:
                kw = normalize(kw).strip()
                if kw:
                    alternatives.append((kw, index))
        alternatives.sort(key=lambda a: -len(a[0]))
        self._rule_of_group = [index for _kw, index in alternatives]
        parts = [f"({self._pattern(kw)})" for kw, _index in alternatives]
        self._regex = re.compile("|".join(parts)) if parts else None

    @staticmethod
    def _pattern(kw: str) -> str:
        body = re.escape(kw)
        if _ASCII_WORD.match(kw[0]):
            body = r"(?<![a-z0-9])" + body
        if _ASCII_WORD.match(kw[-1]):
            body += r"(?:s|es|ed|d|ing)?(?![a-z0-9])" if kw[-1].isalpha() else r"(?![a-z0-9])"
        return body

    def hits(self, text: str) -> list[Hit]:
        """Non-overlapping hits in normalized ``text``, in order of appearance."""
        if self._regex is None:
            return []
        return [Hit(self._rule_of_group[m.lastindex - 1], m.group(), m.start())  # type: ignore[operator]
                for m in self._regex.finditer(text)]

    def first_by_rule(self, text: str) -> dict[int, Hit]:
        """The first hit of each rule that matched."""
        found: dict[int, Hit] = {}
        for hit in self.hits(text):
            found.setdefault(hit.rule, hit)
        return found


def snippet(text: str, start: int, length: int, around: int = 30) -> str:
    """Evidence: the match with a little context either side."""
    lo, hi = max(0, start - around), min(len(text), start + length + around)
    return ("…" if lo else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")
