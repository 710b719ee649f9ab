"""Deployment files validated by their own tools, and kept in step with the settings they set."""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _settings_env_names() -> set[str]:
    """Every env var some settings class of the project reads."""
    names: set[str] = set()
    for package in ("schemas", "connectors", "streams", "sinks"):
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not info.name.rsplit(".", 1)[-1].endswith("settings"):
                continue
            module = importlib.import_module(info.name)
            for obj in vars(module).values():
                if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings:
                    prefix = obj.model_config.get("env_prefix", "")
                    names.update(f"{prefix}{field}".upper() for field in obj.model_fields)
    return names


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_validate_against_the_api_schema(path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for document in yaml.safe_load_all(path.read_text()):
        if document and document.get("kind") != "Kustomization":
            kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S if p.name != "kustomization.yaml"}


def test_every_intake_env_var_in_deploy_files_is_a_real_setting() -> None:
    known = _settings_env_names()
    texts = [p.read_text() for p in [*K8S, DEPLOY / "docker-compose.yml"]]
    used = {m for text in texts for m in re.findall(r"\b(INTAKE_[A-Z0-9_]+)\b", text)}
    assert used, "deploy files set no INTAKE_ variables?"
    assert used <= known, f"unknown settings in deploy files: {sorted(used - known)}"


def test_compose_file_passes_compose_validation() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (Debian package) not installed; deploy/install-system-deps.sh installs it")
    env = {**os.environ, "TWILIO_AUTH_TOKEN": "x", "META_APP_SECRET": "x", "META_VERIFY_TOKEN": "x",
           "WECHAT_TOKEN": "x", "WALLBOARD_API_TOKEN": "x"}
    result = subprocess.run(["docker-compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
