"""The optimised decision code decides and encodes exactly as the pydantic-model version did.

``golden/decide.jsonl`` was recorded with the former implementation (pydantic ``Case`` /
``CustomerState``, validated ``RoutedContact``, one automaton per keyword family) over the
mixed workload of :mod:`.scenarios`; ``golden/states.jsonl`` holds customer states it wrote.
The walk encodings (``hops``) were re-recorded once, when merge walks began re-pointing the
merged keys they pass (:mod:`streams.identity`); every verdict and state stayed byte-identical.
Hops and state digests were re-recorded a second time for the identity shortcut (a contact first
probes its target; roots remember their merged keys in ``members``): again every verdict,
routed, escalation and lead encoding of the 476 steps stayed byte-identical. A third time when
cases began remembering where to answer (``reply_to``, for the survey on closing): 390 state
digests and the 12 hops that carry state changed, every other field of the 476 steps did not.
A fourth time when the probe began following its target's pointers and walking only the keys
the root does not know: 180 steps' hops changed (2,097 walk encodings became 1,668), every
verdict, encoding and state digest stayed byte-identical.
The legacy models are kept below as the reference for the stored state's JSON layout.
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from streams.decide.cases import Case, CustomerState

from . import scenarios

GOLDEN = Path(__file__).parent / "golden"


class LegacyCase(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: str = "open"
    opened_at: float
    last_at: float
    last_channel: str
    category: str
    severity: int = 0
    queue: str
    tier: int = 1
    owner: str | None = None
    refs: list[str] = Field(default_factory=list)
    sketch: list[int] = Field(default_factory=list)
    contacts: int = 1
    repeats: int = 0
    reply_to: list[str] | None = None  # added with survey requests, same layout rule


class LegacyState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    forward: str | None = None
    seq: int = 0
    segment: str | None = None
    seen: dict[str, float] = Field(default_factory=dict)
    cases: dict[str, LegacyCase] = Field(default_factory=dict)
    msgids: dict[str, str] = Field(default_factory=dict)
    members: list[str] = Field(default_factory=list)  # added with the identity shortcut, same layout rule

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()


def test_decisions_and_encodings_match_the_recorded_ones() -> None:
    expected = (GOLDEN / "decide.jsonl").read_bytes().splitlines()
    got = scenarios.run()
    assert len(got) == len(expected)
    for step, (line, want) in enumerate(zip(got, expected)):
        assert line == want, f"step {step} differs"


def test_states_written_before_decode_and_encode_unchanged() -> None:
    for raw in (GOLDEN / "states.jsonl").read_bytes().splitlines():
        assert CustomerState.decode(raw).encode() == raw == LegacyState.model_validate_json(raw).encode()


def test_decode_ignores_unknown_fields_and_coerces_numbers_like_pydantic() -> None:
    raw = (b'{"seq":2,"extra":1,"seen":{"a":5},"cases":{"c-1":{"id":"c-1","opened_at":1,"last_at":2,'
           b'"last_channel":"sms","category":"other","queue":"general","future_field":[1]}}}')
    state = CustomerState.decode(raw)
    assert state.encode() == LegacyState.model_validate_json(raw).encode()
    assert state.cases["c-1"].opened_at == 1.0 and isinstance(state.cases["c-1"].last_at, float)
    assert CustomerState.decode(None) == CustomerState()


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
cases = st.builds(LegacyCase, id=names, status=st.sampled_from(["open", "waiting", "resolved", "closed"]),
                  opened_at=floats, last_at=floats, last_channel=names, category=names, severity=st.integers(0, 3),
                  queue=names, tier=st.integers(1, 3), owner=st.none() | names, refs=st.lists(names, max_size=3),
                  sketch=st.lists(st.integers(0, 2**32 - 1), max_size=4), contacts=st.integers(1, 5),
                  repeats=st.integers(0, 3), reply_to=st.none() | st.lists(names, min_size=5, max_size=5))
states = st.builds(LegacyState, forward=st.none() | names, seq=st.integers(0, 10**4), segment=st.none() | names,
                   seen=st.dictionaries(names, floats, max_size=4), cases=st.dictionaries(names, cases, max_size=3),
                   msgids=st.dictionaries(names, names, max_size=3))


@settings(max_examples=300, deadline=None)
@given(states)
def test_state_json_is_byte_identical_to_the_pydantic_layout(legacy: LegacyState) -> None:
    raw = legacy.encode()
    state = CustomerState.decode(raw)
    assert state.encode() == raw
    assert LegacyState.model_validate_json(state.encode()) == legacy


def test_case_fields_match_the_legacy_model() -> None:
    assert set(Case.__dataclass_fields__) == set(LegacyCase.model_fields)
    assert set(CustomerState.__dataclass_fields__) == set(LegacyState.model_fields)


FAMILIES = [[["订单", "order"], ["取消订单", "cancel my order"]], [["order"], ["退款", "refund"]], [["急", "urgent"], ["订单"]]]
WORDS = ["订单", "取消订单", "order", "orders", "cancel my order", "refund", "refunded", "急", "urgent", "x", " ", "1"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=10).map("".join))
def test_one_scan_finds_what_each_family_finds_alone(text: str) -> None:
    from streams.decide.text import KeywordFamily, KeywordScanner

    together = KeywordScanner(FAMILIES).hits(text)
    assert together == [KeywordFamily(rules).hits(text) for rules in FAMILIES]
