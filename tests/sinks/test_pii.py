"""Personal identifiers by policy."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from sinks.pii import Protector
from sinks.settings import PiiPolicy


@pytest.mark.parametrize("kind, value, masked", [
    ("phone", "+8613812345678", "+86138****5678"),
    ("phone", "+14155550123", "+141****0123"),
    ("email", "li.lei@example.com", "l***@example.com"),
    ("name", "李雷", "李*"),
    ("handle", "wechat:oABCDEFG123", "wechat:oA*******23"),
    ("number", "SO123456789", "*******6789"),
    ("phone", None, ""),
])
def test_mask_keeps_shape_hides_identity(kind: str, value: str | None, masked: str) -> None:
    assert Protector(PiiPolicy.MASK, "k")(kind, value) == masked


def test_hash_is_keyed_and_stable() -> None:
    a, b = Protector(PiiPolicy.HASH, "key-a"), Protector(PiiPolicy.HASH, "key-b")
    assert a("phone", "+8613812345678") == a("phone", "+8613812345678")
    assert a("phone", "+8613812345678") != b("phone", "+8613812345678")
    assert "+86138" not in a("phone", "+8613812345678")


def test_hash_is_hmac_sha256_of_the_deployment_key_so_stored_values_stay_joinable_across_versions() -> None:
    protect = Protector(PiiPolicy.HASH, "deployment-key")
    for value in ("+8613812345678", "li.lei@example.com", "李雷"):
        expected = "h:" + hmac.new(b"deployment-key", value.encode(), hashlib.sha256).hexdigest()[:32]
        assert protect("phone", value) == expected
        assert protect.key(value) == expected  # the cached path gives the same


def test_customer_key_is_hashed_unless_clear() -> None:
    assert Protector(PiiPolicy.MASK, "k").key("phone:+8613812345678").startswith("h:")
    assert Protector(PiiPolicy.CLEAR, "k").key("phone:+8613812345678") == "phone:+8613812345678"
    assert Protector(PiiPolicy.CLEAR, "k")("phone", "+8613812345678") == "+8613812345678"
