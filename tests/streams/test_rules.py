"""Rules files: the shipped ones load; a wrong one is refused naming the file and line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.rules.loader import SHIPPED, RulesError, load_rule_files


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    for f in SHIPPED.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` and return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[:text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def test_shipped_rules_load_with_a_version() -> None:
    rules = load_rule_files()
    assert rules.version.startswith(rules.taxonomy.version)
    assert "#" in rules.version


def test_version_changes_with_the_content(rules_copy: Path) -> None:
    before = load_rule_files(rules_copy).version
    _edit(rules_copy / "upsell.yaml", "min_score: 0.5", "min_score: 0.6")
    assert load_rule_files(rules_copy).version != before


def test_wrong_value_names_file_and_line(rules_copy: Path) -> None:
    line = _edit(rules_copy / "routing.yaml", "queue: recall\n    tier: 1", "queue: recall\n    tier: 7")
    with pytest.raises(RulesError) as err:
        load_rule_files(rules_copy)
    assert f"routing.yaml:{line + 1}: routes.2.tier" in str(err.value)


def test_unknown_field_names_file_and_line(rules_copy: Path) -> None:
    line = _edit(rules_copy / "taxonomy.yaml", "  - name: recall\n", "  - name: recall\n    colour: red\n")
    with pytest.raises(RulesError) as err:
        load_rule_files(rules_copy)
    assert f"taxonomy.yaml:{line + 1}: categories.2.colour: Extra inputs are not permitted" in str(err.value)


def test_missing_catch_all_route_is_refused(rules_copy: Path) -> None:
    _edit(rules_copy / "routing.yaml", "    when: {}\n    queue: general", "    when: {channel: [email]}\n    queue: general")
    with pytest.raises(RulesError, match=r"routing.yaml:\d+: .*must have an empty 'when'"):
        load_rule_files(rules_copy)


def test_yaml_syntax_error_names_the_line(rules_copy: Path) -> None:
    line = _edit(rules_copy / "dedup.yaml", "sketch_size: 64", "sketch_size: [64")
    with pytest.raises(RulesError) as err:
        load_rule_files(rules_copy)
    assert "dedup.yaml:" in str(err.value) and "YAML syntax error" in str(err.value)
    assert int(str(err.value).split("dedup.yaml:")[1].split(":")[0]) >= line


def test_bad_regex_is_refused(rules_copy: Path) -> None:
    line = _edit(rules_copy / "dedup.yaml", "order_ref_pattern: '", "order_ref_pattern: '((")
    with pytest.raises(RulesError, match=rf"dedup.yaml:{line}: order_ref_pattern: .*regular expression"):
        load_rule_files(rules_copy)


def test_number_where_keyword_text_expected(rules_copy: Path) -> None:
    line = _edit(rules_copy / "taxonomy.yaml", '["12315", 消协, 消费者协会, 市场监管', "[12315, 消协, 消费者协会, 市场监管")
    with pytest.raises(RulesError, match=rf"taxonomy.yaml:{line}: categories.1.keywords.0: Input should be a valid string"):
        load_rule_files(rules_copy)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="taxonomy.yaml: cannot read rules file"):
        load_rule_files(tmp_path)


def test_worker_refuses_to_start_on_a_bad_rules_file(rules_copy: Path) -> None:
    line = _edit(rules_copy / "upsell.yaml", "min_score: 0.5", "min_score: high")
    env = {**os.environ, "INTAKE_STREAMS_RULES_DIR": str(rules_copy), "INTAKE_STREAMS_WEB_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-c", "from streams.worker import main; main()"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"upsell.yaml:{line}: min_score: Input should be a valid number" in proc.stderr
