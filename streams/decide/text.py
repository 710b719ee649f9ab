"""Text normalisation, keyword matching and similarity for Chinese and English.

Chinese has no spaces, so similarity uses character bigrams of CJK runs and words for
Latin text; both become 32-bit CRC shingles (stable across processes, unlike ``hash``),
kept as a bottom-k sketch so a case stores a bounded, comparable summary of its text.
All keyword families compile into one Aho-Corasick automaton, so a contact's text is
scanned once however many families and keywords there are.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import ahocorasick

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKENS = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_CJK_RUN = re.compile(rf"[{_CJK}]")
STOPWORDS = frozenset(
    "a an the and or but to of in on at for from with by is are was were be been it its this that these those "
    "i me my we our you your he she they them his her hi hello dear please thanks thank regards can could would "
    "will do does did have has had not no yes so if as about there here what when how why which who".split())


def normalize(text: str) -> str:
    """NFKC (full-width to half-width, compatibility forms) and lower case."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return text.lower()
    return unicodedata.normalize("NFKC", text).lower()


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def shingles(text: str) -> set[int]:
    """CJK character bigrams (a lone character stands for itself) and non-stopword words."""
    out: set[int] = set()
    crc32 = zlib.crc32
    for token in _TOKENS.findall(text):
        if token[0] <= "z":  # ASCII word
            if len(token) > 1 and token not in STOPWORDS:
                out.add(crc32(token.encode()))
        elif len(token) == 1:
            out.add(crc32(token.encode()))
        else:  # every character of a CJK run is 3 bytes of UTF-8: bigrams are 6-byte slices, encoded once
            raw = token.encode()
            out.update(crc32(raw[i:i + 6]) for i in range(0, len(raw) - 3, 3))
    return out


def sketch(hashes: Iterable[int], k: int) -> list[int]:
    """Bottom-k sketch: the k smallest hashes, sorted."""
    return sorted(set(hashes))[:k]


def similarity(a: Sequence[int], b: Sequence[int], k: int) -> float:
    """Jaccard estimate from two bottom-k sketches (exact when both sets have <= k elements)."""
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    union = sa | sb
    if len(union) <= k:  # the whole union is the bottom-k: the count below is the intersection
        return len(sa & sb) / len(union)
    bottom = sorted(union)[:k]
    both = sum(1 for h in bottom if h in sa and h in sb)
    return both / len(bottom)


class Hit(NamedTuple):
    """A named tuple rather than a frozen dataclass: one is built per keyword match, and
    frozen dataclass construction costs several times more."""

    rule: int       # index of the rule in the family
    keyword: str    # the text that matched
    start: int


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")  # English word characters (text is lower-cased)
_SUFFIXES = ("", "s", "es", "ed", "d", "ing")

# what the automaton stores per keyword: the keyword, its length, whether its start must sit on an
# English word boundary, the endings allowed before the end boundary (None: no end boundary to check),
# and (family, rule) of every family that has it
_Entry = tuple[str, int, bool, "tuple[str, ...] | None", "tuple[tuple[int, int], ...]"]


def _entry(kw: str, owners: tuple[tuple[int, int], ...]) -> _Entry:
    """Boundary rules precomputed per keyword, so the scan does no per-hit regex work."""
    ends = None
    if kw[-1] in _WORD_CHARS:
        ends = _SUFFIXES if kw[-1].isalpha() else ("",)
    return kw, len(kw), kw[0] in _WORD_CHARS, ends, owners


def _scan(automaton: ahocorasick.Automaton, text: str, families: int) -> list[list[tuple[int, int, int]]]:
    """(start, -end, rule) of every bounded match, per family."""
    found: list[list[tuple[int, int, int]]] = [[] for _ in range(families)]
    size = len(text)
    for last, (kw, length, check_start, ends, owners) in automaton.iter(text):
        start = last - length + 1
        if check_start and start > 0 and text[start - 1] in _WORD_CHARS:
            continue
        end = last + 1
        if ends is not None:  # English keyword: allow a plural / -ed / -ing ending, then a word boundary
            for suffix in ends:
                stop = end + len(suffix)
                if text.startswith(suffix, end) and (stop >= size or text[stop] not in _WORD_CHARS):
                    end = stop
                    break
            else:
                continue
        for family, rule in owners:
            found[family].append((start, -end, rule))
    return found


def _resolve(text: str, found: list[tuple[int, int, int]]) -> list[Hit]:
    """Leftmost-longest, non-overlapping, in order of appearance."""
    if not found:
        return []
    found.sort()
    hits, covered = [], 0
    for start, neg_end, index in found:
        if start >= covered:
            hits.append(Hit(index, text[start:-neg_end], start))
            covered = -neg_end
    return hits


def first_by_rule(hits: Iterable[Hit]) -> dict[int, Hit]:
    """The first hit of each rule that matched."""
    found: dict[int, Hit] = {}
    for hit in hits:
        found.setdefault(hit.rule, hit)
    return found


class KeywordScanner:
    """Several keyword families found in one Aho-Corasick pass over the text.

    Why: classification and upsell look for six families in the same text; one pass over
    one automaton replaces six, with the boundary checks done once per match. Each family
    resolves its own overlaps, exactly as :class:`KeywordFamily` does alone.
    """

    def __init__(self, families: Sequence[Sequence[Iterable[str]]]) -> None:
        owners: dict[str, dict[int, int]] = {}
        for family, rules in enumerate(families):
            for index, keywords in enumerate(rules):
                for kw in keywords:
                    kw = normalize(kw).strip()
                    if kw:  # within a family the first rule listing a keyword owns it
                        owners.setdefault(kw, {}).setdefault(family, index)
        self._families = len(families)
        self._automaton = ahocorasick.Automaton()
        for kw, by_family in owners.items():
            self._automaton.add_word(kw, _entry(kw, tuple(by_family.items())))
        self._empty = not owners
        if not self._empty:
            self._automaton.make_automaton()

    def hits(self, text: str) -> list[list[Hit]]:
        """Per family, its non-overlapping hits in normalized ``text``, in order of appearance."""
        if self._empty:
            return [[] for _ in range(self._families)]
        return [_resolve(text, found) for found in _scan(self._automaton, text, self._families)]


class KeywordFamily:
    """Literal keywords of several rules, found in one Aho-Corasick pass over the text.

    English keywords match on word boundaries (with a plural / -ed / -ing ending allowed);
    overlapping matches resolve leftmost-longest, like a regex alternation sorted by length.
    """

    def __init__(self, rules: Sequence[Iterable[str]]) -> None:
        self._scanner = KeywordScanner([rules])

    def hits(self, text: str) -> list[Hit]:
        """Non-overlapping hits in normalized ``text``, in order of appearance."""
        return self._scanner.hits(text)[0]

    def first_by_rule(self, text: str) -> dict[int, Hit]:
        """The first hit of each rule that matched."""
        return first_by_rule(self.hits(text))


def snippet(text: str, start: int, length: int, around: int = 30) -> str:
    """Evidence: the match with a little context either side."""
    lo, hi = max(0, start - around), min(len(text), start + length + around)
    return ("…" if lo else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")
