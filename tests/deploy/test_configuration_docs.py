"""The configuration reference is generated from the settings classes and says what each setting does."""
from __future__ import annotations

from pathlib import Path

from intake.configdocs import SETTINGS, effective, markdown

REPO = Path(__file__).resolve().parents[2]


def test_reference_is_in_sync_with_the_settings_classes() -> None:
    assert (REPO / "docs" / "configuration.md").read_text() == markdown(), "run: intake config docs"


def test_every_setting_is_described() -> None:
    missing = [f"{cls.__name__}.{name}" for cls, _ in SETTINGS for name, field in cls.model_fields.items()
               if not field.description]
    assert not missing, f"settings without a description: {missing}"


def test_show_masks_secrets(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("INTAKE_KAFKA_SASL_PASSWORD", "hunter2-planted")
    monkeypatch.setenv("INTAKE_SINK_API_TOKEN", "token-planted")
    shown = effective()
    assert "INTAKE_KAFKA_SASL_PASSWORD=**********" in shown
    assert "hunter2-planted" not in shown and "token-planted" not in shown
