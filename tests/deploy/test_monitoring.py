"""The monitoring files read what the code exports: every metric an alert rule or a Grafana panel
queries is one some component defines, every panel's PromQL parses, and every datasource a
dashboard names is provisioned (a renamed metric otherwise leaves an alert that never fires
and a panel that stays empty, silently)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "intake-alerts.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_DASHBOARD = DEPLOY / "grafana" / "dashboards" / "intake-pipeline.json"
#: a metric name in PromQL (not the prefix of a ``__name__`` regex such as ``intake_.+_total``)
METRIC = re.compile(r"\bintake_[a-z0-9_]*[a-z0-9](?![.\w])")
#: what Prometheus adds to a histogram's or summary's name
SUFFIXES = ("_bucket", "_count", "_sum")


def _exported() -> set[str]:
    """The intake_* metric names the components define (prometheus_client names in their sources)."""
    names: set[str] = set()
    for package in ("connectors", "streams", "sinks"):
        for path in (REPO / package).rglob("*.py"):
            names.update(re.findall(r"[\"'](intake_[a-z0-9_]+)[\"']", path.read_text()))
    return names


def _panel_exprs(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]


def _rule_exprs() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("source", ["alert rules", "pipeline dashboard"])
def test_every_metric_queried_is_one_the_code_exports(source: str) -> None:
    exprs = _rule_exprs() if source == "alert rules" else _panel_exprs(PROMETHEUS_DASHBOARD)
    queried = {name for expr in exprs for name in METRIC.findall(expr)}
    assert queried, "no metric found: the pattern no longer matches the queries"
    exported = _exported()
    unknown = {name for name in queried
               if name not in exported and not any(name.endswith(s) and name[:-len(s)] in exported for s in SUFFIXES)}
    assert not unknown, f"{source} query metrics no component exports: {sorted(unknown)}"


def test_every_pipeline_panel_query_is_valid_promql(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian package prometheus) not installed; deploy/install-system-deps.sh installs it")
    rules = {"groups": [{"name": "panels", "rules": [{"record": f"panel:{n}", "expr": expr}
                                                     for n, expr in enumerate(_panel_exprs(PROMETHEUS_DASHBOARD))]}]}
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(tmp_path / "panels.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_use_provisioned_datasources_and_unique_ids() -> None:
    provisioned = {source["uid"] for path in (DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yaml")
                   for source in yaml.safe_load(path.read_text())["datasources"]}
    uids = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.append(dashboard["uid"])
        used = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
        assert used and used <= provisioned, f"{path.name}: datasources {sorted(used - provisioned)} not provisioned"
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
    assert len(uids) == len(set(uids)) and PROMETHEUS_DASHBOARD in DASHBOARDS
