"""The wallboard in a real browser (Debian's headless Chromium via Playwright) against a running sink."""
from __future__ import annotations

import math
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from schemas import Channel, KafkaSettings, RoutedContactEvent

from .conftest import ARTIFACTS
from .factory import generate, replay_report, routed_contact
from .helpers import SinkProcess, produce, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.kafka, pytest.mark.browser,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian package chromium not installed")]


def comparable(board: dict) -> dict:
    """Everything but the age that moves with the clock."""
    def strip(k: dict) -> dict:
        return {n: v for n, v in k.items() if n != "oldest_waiting_seconds"}
    return {"total": strip(board["total"]), **{s: {g: strip(k) for g, k in board[s].items()} for s in ("by_queue", "by_channel")}}


@pytest.fixture
def sink(kafka_settings: KafkaSettings, tmp_path: Path):
    process = SinkProcess(tmp_path / "chdb", kafka_settings, f"ui-{uuid.uuid4().hex[:8]}", tmp_path / "sink.log").start()
    process.wait_ready()
    yield process
    process.stop()


def test_wallboard_shows_clickhouse_figures_and_moves_with_a_new_contact(kafka_settings: KafkaSettings, sink: SinkProcess,
                                                                         tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    data = generate(cases=50, seed=11)
    data.events.append(replay_report("what-if", datetime.now(timezone.utc), replay_breached=7))
    produce(kafka_settings, data.events)
    routed = len({e.data.contact_id for e in data.events if isinstance(e, RoutedContactEvent)})  # upstream duplicates: once
    wait_until(lambda: sink.get("/api/status")["rows"]["contacts"] == routed, 90, "contacts stored")
    wait_until(lambda: sum(sink.get("/api/status")["sink"]["committed"].values()) == len(data.events), 90, "all committed")
    assert [r["run_id"] for r in httpx.get(f"{sink.url}/api/replays").json()] == ["what-if"]

    # the API's access rules
    assert httpx.get(f"{sink.url}/api/audit").status_code == 401
    assert httpx.get(f"{sink.url}/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{sink.url}/healthz").status_code == 200
    assert "intake_sink_rows_written_total" in httpx.get(f"{sink.url}/metrics").text

    audit = sink.get("/api/audit")  # brute force over the raw tables, computed by the sink process
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)  # playwright gives it a fresh profile dir
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(sink.url + "/")
        received = audit["total"]["received"]
        page.wait_for_function(f"document.getElementById('kpi-received')?.textContent === '{received:,}'", timeout=20_000)
        # the "15m" windows move a minute at a time: a minute turning between the audit and the
        # board's last refresh changes both, so they must agree once both are from the same minute
        seen: dict[str, dict] = {}

        def board_agrees() -> bool:
            seen["board"], seen["audit"] = page.evaluate("window.lastBoard"), sink.get("/api/audit")
            return comparable(seen["board"]) == comparable(seen["audit"])

        try:
            wait_until(board_agrees, 20, "the board's figures to equal the audit's")
        except AssertionError:
            assert comparable(seen["board"]) == comparable(seen["audit"])  # pytest shows the differing figures
        audit = seen["audit"]
        for channel, figures in audit["by_channel"].items():
            cell = page.locator(f'#by-channel tr[data-channel="{channel}"] td[data-kpi="received"]')
            assert cell.text_content() == f"{figures['received']:,}"
        assert page.locator("#kpi-in_queue").text_content() == f"{audit['total']['in_queue']:,}"
        assert page.locator("#kpi-upsell_leads").text_content() == f"{audit['total']['upsell_leads']:,}"
        assert page.locator("#kpi-nps").text_content() == f"{audit['total']['nps']:.1f}"  # the data set has NPS answers
        total = audit["total"]  # and the resolution rate, upsell results, the forecast (the data set has earlier days)
        assert page.locator("#kpi-resolution_rate").text_content() == f"{total['resolution_rate']:.1f}%"
        forecast = total["volume_vs_forecast"]
        assert page.locator("#kpi-volume_vs_forecast").text_content() == \
            ("–" if forecast is None else f"{'+' if forecast > 0 else ''}{forecast:.1f}%")
        assert page.locator('.tile[data-kpi="volume_vs_forecast"] .sub').text_content().endswith(
            f"{math.floor(total['forecast_day'] + 0.5):,} a day")  # JavaScript's Math.round
        assert page.locator("#kpi-upsell_conversion").text_content() == f"{total['upsell_conversion']:.1f}%"
        assert page.locator('.tile[data-kpi="upsell_conversion"] .sub').text_content() == \
            f"{total['upsell_converted']:,} of {total['upsell_decided']:,} leads"
        breach_tile = page.locator('.tile[data-kpi="sla_breaches"]')
        assert ("bad" in breach_tile.get_attribute("class")) == (audit["total"]["sla_breaches_15m"] > 0)
        run = page.locator('#replay-runs tr[data-run="what-if"] td')  # the what-if run: breached, escalations
        assert (run.nth(4).text_content(), run.nth(8).text_content()) == ("4 / 7", "4 / 7")
        assert "bad" in run.nth(8).get_attribute("class")  # more escalations replayed than live

        # a new contact lands and the page follows without a reload
        produce(kafka_settings, [routed_contact(channel=Channel.WEBFORM, message_id=f"live-{uuid.uuid4().hex}",
                                                received_at=datetime.now(timezone.utc) - timedelta(seconds=1))])
        page.wait_for_function(f"document.getElementById('kpi-received').textContent === '{received + 1:,}'",
                               timeout=30_000)
        assert sink.get("/api/audit")["total"]["received"] == received + 1

        # the filter narrows the board to one channel
        page.select_option("#channel", "webform")
        webform = sink.get("/api/audit?channel=webform")["total"]["received"]
        page.wait_for_function(f"document.getElementById('kpi-received').textContent === '{webform:,}'", timeout=20_000)
        assert "channel=webform" in page.url
        page.select_option("#channel", "")
        page.wait_for_function(f"document.getElementById('kpi-received').textContent === '{received + 1:,}'", timeout=20_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
        browser.close()
