"""The Kubernetes manifests render, validate against the Kubernetes schemas, and agree with the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from dealpulse_cli.supervisor import DEFAULT_PORTS
from dealpulse_common.topics import ALL_TOPICS, DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
CUSTOM_KINDS = {"KafkaTopic", "ScaledObject"}
CONSUMED = {"scorer": {DEAL_CHANGED.name}, "verdict": {DEAL_SCORED.name},
            "alerts": {DEAL_SCORED.name, DEAL_VERDICT.name}}


def _render(overlay: str) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)], check=True,
                         capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, _render(request.param)


def test_standard_resources_validate_against_kubernetes_schemas(rendered) -> None:
    _, docs = rendered
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, "1.37", strict=True)


def test_every_service_is_deployed_hardened_and_probed(rendered) -> None:
    _, docs = rendered
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == set(DEFAULT_PORTS)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["limits"]["memory"]
        assert container["ports"][0]["containerPort"] == DEFAULT_PORTS[name]
        assert container["args"] == ["python", "-m", f"dealpulse_{name}"]


def _container_env(docs: list[dict], deployment: str) -> dict[str, str]:
    """What the deployment's container finds in its environment: the shared ConfigMap, then its own env."""
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("dealpulse-config"))
    [container] = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)[
        "spec"]["template"]["spec"]["containers"]
    return {**config["data"], **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e}}


def test_alerts_link_to_a_public_dashboard_address_their_settings_accept(rendered,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dealpulse_alerts.settings import AlertsSettings

    _, docs = rendered
    env = _container_env(docs, "alerts")
    assert env["ALERTS_DASHBOARD_URL"].startswith("https://")
    for name, value in {**env, "DEALPULSE_SERVICE_SECRET": "from-the-secret-a-service-secret-of-32-bytes"}.items():
        monkeypatch.setenv(name, value)
    assert AlertsSettings().dashboard_url == env["ALERTS_DASHBOARD_URL"]


def test_topics_are_declared_for_every_contract(rendered) -> None:
    overlay, docs = rendered
    topics = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in ALL_TOPICS}
    expected = 12 if overlay == "prod" else 3
    for spec in topics.values():
        assert spec["partitions"] == expected
        assert spec["replicas"] >= 1
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert int(config["data"]["KAFKA_PARTITIONS"]) == expected


def test_stream_processors_scale_on_the_lag_of_what_they_consume(rendered) -> None:
    _, docs = rendered
    scaled = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "ScaledObject"}
    assert set(scaled) == set(CONSUMED)
    for name, spec in scaled.items():
        assert spec["scaleTargetRef"]["name"] == name
        assert spec["maxReplicaCount"] <= 12, "more replicas than partitions would idle"
        triggers = spec["triggers"]
        assert all(t["type"] == "kafka" and t["metadata"]["consumerGroup"] == name for t in triggers)
        assert {t["metadata"]["topic"] for t in triggers} == CONSUMED[name]
    autoscaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert autoscaled == {"ingest", "gateway"}


def test_images_install_what_the_tests_install() -> None:
    for dockerfile in (ROOT / "deploy/docker").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        assert "-c requirements/constraints.txt" in text, f"{dockerfile.name} must install the pinned set"
        assert "USER 10001" in text
