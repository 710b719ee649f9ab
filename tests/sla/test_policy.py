"""The policy file: shipped presets resolve as the domain brief says; bad files are refused clearly."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.sla.policy import DEFAULT_POLICY, PolicyError, PolicySet, load_policy


@pytest.fixture(scope="module")
def presets() -> PolicySet:
    return PolicySet(load_policy())


@pytest.mark.parametrize(("clock", "attrs", "seconds", "calendar"), [
    ("first_response", {"channel": "chat"}, 30, "24x7"),
    ("first_response", {"channel": "webform", "category": "consultation"}, 15 * 60, "cn-business"),
    ("first_response", {"channel": "email", "category": "consultation"}, 24 * 3600, "24x7"),
    ("first_response", {"channel": "phone", "category": "product"}, 24 * 3600, "24x7"),
    ("first_response", {"channel": "webform", "category": "warranty"}, 2 * 3600, "cn-extended"),
    ("first_response", {"channel": "email", "category": "return_refund"}, 2 * 3600, "cn-extended"),
    ("first_response", {"channel": "chat", "segment": "vip"}, 15, "24x7"),
    ("first_response", {"channel": "webform", "segment": "vip"}, 7.5 * 60, "cn-business"),
    ("resolution", {"category": "regulatory"}, 24 * 3600, "24x7"),
    ("complaint_preliminary", {"category": "complaint", "severity": 1}, 24 * 3600, "24x7"),
    ("complaint_formal", {"category": "complaint", "severity": 2}, 48 * 3600, "24x7"),
    ("resolution", {"category": "complaint", "severity": 1}, 24 * 3600, "24x7"),
    ("resolution", {"category": "complaint", "severity": 2}, 48 * 3600, "24x7"),
    ("resolution", {"category": "complaint", "severity": 3}, 72 * 3600, "24x7"),
    ("resolution", {"category": "logistics"}, 48 * 3600, "24x7"),
])
def test_presets(presets: PolicySet, clock: str, attrs: dict, seconds: float, calendar: str) -> None:
    target = presets.target(clock, attrs)
    assert target is not None and (target.seconds, target.calendar) == (seconds, calendar)
    assert target.rule.endswith("@presets-2026.11")


def test_complaint_clocks_only_for_complaints(presets: PolicySet) -> None:
    assert presets.target("complaint_formal", {"category": "order"}) is None


def _write(tmp_path: Path, mutate) -> Path:  # noqa: ANN001
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    mutate(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["rules"][0]["targets"].update(resolution="soon"), "rules.0.targets.resolution"),
    (lambda d: d["rules"][0].update(calendar="mars"), "calendar 'mars' is not in calendars"),
    (lambda d: d["calendars"]["cn-business"].update(timezone="Asia/Atlantis"), "calendars.cn-business.timezone"),
    (lambda d: d["calendars"]["cn-business"].update(hours=["18:00-09:00"]), "ends before it starts"),
    (lambda d: d["clocks"]["resolution"].update(stop_on=["solved"]), "unknown trigger"),
    (lambda d: d.update(warn_at=[0.5, 1.5]), "warn_at"),
    (lambda d: d["rules"][1].update(colour="red"), "rules.1.colour"),
])
def test_bad_policy_is_refused_with_the_field(tmp_path: Path, mutate, message: str) -> None:  # noqa: ANN001
    with pytest.raises(PolicyError) as info:
        load_policy(_write(tmp_path, mutate))
    assert message in str(info.value) and str(tmp_path) in str(info.value)


def test_unreadable_policy_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_policy_check_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "streams.sla", str(DEFAULT_POLICY), "channel=chat"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "first_response" in ok.stdout and "30 s" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nrules: []\n")
    refused = subprocess.run([sys.executable, "-m", "streams.sla", str(bad)], capture_output=True, text=True)
    assert refused.returncode == 1 and "calendars: Field required" in refused.stderr
