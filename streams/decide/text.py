"""Text normalisation, keyword matching and similarity for Chinese and English.

Chinese has no spaces, so similarity uses character bigrams of CJK runs and words for
Latin text; both become 32-bit CRC shingles (stable across processes, unlike ``hash``),
kept as a bottom-k sketch so a case stores a bounded, comparable summary of its text.
Keyword families compile into one Aho-Corasick automaton each, so a contact's text is
scanned once per family however many keywords there are.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

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
    """Literal keywords of several rules, found in one Aho-Corasick pass over the text.

    English keywords match on word boundaries (with a plural / -ed / -ing ending allowed);
    overlapping matches resolve leftmost-longest, like a regex alternation sorted by length.
    """

    _SUFFIXES = ("", "s", "es", "ed", "d", "ing")

    def __init__(self, rules: Sequence[Iterable[str]]) -> None:
        self._automaton = ahocorasick.Automaton()
        for index, keywords in enumerate(rules):
            for kw in keywords:
                kw = normalize(kw).strip()
                if kw and not self._automaton.exists(kw):
                    self._automaton.add_word(kw, (index, kw))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    @classmethod
    def _bounded(cls, text: str, start: int, end: int, kw: str) -> int:
        """End of the match if it sits on English word boundaries, else -1."""
        if _ASCII_WORD.match(kw[0]) and start > 0 and _ASCII_WORD.match(text[start - 1]):
            return -1
        if not _ASCII_WORD.match(kw[-1]):
            return end
        for suffix in cls._SUFFIXES if kw[-1].isalpha() else ("",):
            stop = end + len(suffix)
            if text.startswith(suffix, end) and (stop >= len(text) or not _ASCII_WORD.match(text[stop])):
                return stop
        return -1

    def hits(self, text: str) -> list[Hit]:
        """Non-overlapping hits in normalized ``text``, in order of appearance."""
        if self._empty:
            return []
        found = []
        for last, (index, kw) in self._automaton.iter(text):
            start = last - len(kw) + 1
            end = self._bounded(text, start, last + 1, kw)
            if end >= 0:
                found.append((start, -end, index))
        found.sort()
        hits, covered = [], 0
        for start, neg_end, index in found:
            if start >= covered:
                hits.append(Hit(index, text[start:-neg_end], start))
                covered = -neg_end
        return hits

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
