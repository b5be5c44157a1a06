"""deploy/kubernetes.yaml (docs/scaling.md): no cluster runs here, so what can be checked without one
is checked: it parses, its settings are ones the server reads and reach it as written, and the
probes and the Service point at the port and path the server serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqlenv_server.settings import Settings

MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes.yaml"


def _documents() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the manifest")
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8"))}


def test_the_manifest_settings_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _documents()
    assert set(docs) == {"Deployment", "Service"}
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    for name in [n for n in env if n.startswith("SQLENV_")]:
        assert name.removeprefix("SQLENV_").lower() in Settings.model_fields, f"the server reads no {name}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.port == int(env["PORT"]) == container["ports"][0]["containerPort"]
    assert settings.workers == int(env["SQLENV_WORKERS"])
    assert settings.max_sessions == int(env["SQLENV_MAX_SESSIONS"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": container["ports"][0]["name"]}
    service = docs["Service"]["spec"]
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_the_manifest_trusts_no_wildcard_proxy() -> None:
    """``FORWARDED_ALLOW_IPS="*"`` let any client write its own X-Forwarded-For and take every
    session past the per-client limit; only addresses or networks (the ingress's) are trusted."""
    import ipaddress

    (container,) = _documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    trusted = [entry.strip() for entry in env["FORWARDED_ALLOW_IPS"].split(",")]
    for entry in trusted:
        assert entry != "*"
        assert not ipaddress.ip_network(entry, strict=False).is_global  # a private range, not the internet
