"""The Kubernetes manifests render, validate against the Kubernetes schemas, and agree with the code."""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from dealpulse_cli.main import build_parser
from dealpulse_cli.supervisor import DEFAULT_PORTS
from dealpulse_common.topics import ALL_TOPICS, DEAL_CHANGED, DEAL_SCORED, DEAL_VERDICT
from tests.support import PRODUCTION_AUTH_ENV
from tests.unit.deploy.conftest import OVERLAYS, ROOT, Manifest, of_kind, pod_templates

CUSTOM_KINDS = {"KafkaTopic", "ScaledObject", "ServiceMonitor", "PrometheusRule"}  # test_custom_resources.py
CONSUMED = {"scorer": {DEAL_CHANGED.name}, "verdict": {DEAL_SCORED.name},
            "alerts": {DEAL_SCORED.name, DEAL_VERDICT.name}}
Rendered = tuple[str, tuple[Manifest, ...]]


def test_every_overlay_is_checked() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


def test_standard_resources_validate_against_kubernetes_schemas(rendered: Rendered) -> None:
    _, docs = rendered
    assert {doc["kind"] for doc in docs} >= CUSTOM_KINDS | {"NetworkPolicy", "Job", "CronJob"}
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, "1.37", strict=True)


def test_every_service_is_deployed_hardened_and_probed(rendered: Rendered) -> None:
    _, docs = rendered
    deployments = of_kind(docs, "Deployment")
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


def test_replicas_spread_over_nodes_and_zones(rendered: Rendered) -> None:
    _, docs = rendered
    deployments = of_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        spread = {c["topologyKey"]: c for c in template["spec"]["topologySpreadConstraints"]}
        assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
        for constraint in spread.values():
            assert constraint["maxSkew"] == 1 and "pod-template-hash" in constraint["matchLabelKeys"]
            selected = {other for other, d in deployments.items()
                        if _matches(constraint["labelSelector"], d["spec"]["template"]["metadata"]["labels"])}
            assert selected == {name}, f"{name} must spread its own pods, not {selected}"


def _matches(selector: Manifest, labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def _container_env(docs: tuple[Manifest, ...], deployment: str) -> dict[str, str]:
    """What the deployment's container finds in its environment: the shared ConfigMap, then its own env."""
    config = of_kind(docs, "ConfigMap")["dealpulse-config"]
    [container] = of_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    return {**config["data"], **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e}}


def test_alerts_link_to_a_public_dashboard_address_their_settings_accept(rendered: Rendered,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dealpulse_alerts.settings import AlertsSettings

    _, docs = rendered
    env = _container_env(docs, "alerts")
    assert env["ALERTS_DASHBOARD_URL"].startswith("https://")
    from_the_secret = {"DEALPULSE_SERVICE_SECRET": "from-the-secret-a-service-secret-of-32-bytes",
                       "DEALPULSE_SECRETS_KEYS": PRODUCTION_AUTH_ENV["DEALPULSE_SECRETS_KEYS"]}
    for name, value in {**env, **from_the_secret}.items():
        monkeypatch.setenv(name, value)
    assert AlertsSettings().dashboard_url == env["ALERTS_DASHBOARD_URL"]


def test_the_gateway_reaches_the_scorer_and_alerts_at_their_services(rendered: Rendered,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dealpulse_gateway.settings import GatewaySettings

    _, docs = rendered
    from_the_secret = {"DEALPULSE_JWT_SECRET": "from-the-secret",
                       "DEALPULSE_SERVICE_SECRET": "from-the-secret-of-at-least-32-bytes",
                       "DEALPULSE_SECRETS_KEYS": PRODUCTION_AUTH_ENV["DEALPULSE_SECRETS_KEYS"]}
    for name, value in {**_container_env(docs, "gateway"), **from_the_secret}.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    services = of_kind(docs, "Service")
    for target, url in {"scorer": settings.scorer_url, "alerts": settings.alerts_url}.items():
        address = urlsplit(url)
        assert address.hostname == target, f"the gateway calls {url}, not the {target} Service"
        assert address.port in {port["port"] for port in services[target]["spec"]["ports"]}


def test_topics_are_declared_for_every_contract(rendered: Rendered) -> None:
    overlay, docs = rendered
    topics = {name: d["spec"] for name, d in of_kind(docs, "KafkaTopic").items()}
    assert set(topics) == {t.name for t in ALL_TOPICS}
    config = of_kind(docs, "ConfigMap")["dealpulse-config"]
    for spec in topics.values():
        assert spec["partitions"] == int(config["data"]["KAFKA_PARTITIONS"])  # what the services create
        assert spec["replicas"] >= 1
    assert {spec["partitions"] for spec in topics.values()} == ({12} if overlay == "prod" else {3})


def test_stream_processors_scale_on_lag_never_beyond_their_partitions(rendered: Rendered) -> None:
    _, docs = rendered
    partitions = {name: d["spec"]["partitions"] for name, d in of_kind(docs, "KafkaTopic").items()}
    scaled = {name: d["spec"] for name, d in of_kind(docs, "ScaledObject").items()}
    assert set(scaled) == set(CONSUMED)
    for name, spec in scaled.items():
        assert spec["scaleTargetRef"]["name"] == name
        triggers = spec["triggers"]
        assert all(t["type"] == "kafka" and t["metadata"]["consumerGroup"] == name for t in triggers)
        assert {t["metadata"]["topic"] for t in triggers} == CONSUMED[name]
        fewest = min(partitions[t["metadata"]["topic"]] for t in triggers)
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= fewest, \
            f"{name}: more replicas than partitions would idle"
    autoscaled = {d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, "HorizontalPodAutoscaler").values()}
    assert autoscaled == {"ingest", "gateway"}


def _cli_args(docs: tuple[Manifest, ...]) -> dict[str, list[str]]:
    """The `dealpulse` command line of every workload run from the CLI image (its entrypoint is `dealpulse`)."""
    found = {}
    for name, template in pod_templates(docs).items():
        [container] = template["spec"]["containers"]
        if container["image"].rsplit("/", 1)[-1].split(":")[0] in ("dealpulse-cli", "cli"):
            found[name] = container["args"]
    return found


def test_every_cli_workload_runs_a_command_the_cli_accepts(rendered: Rendered) -> None:
    _, docs = rendered
    commands = _cli_args(docs)
    assert set(commands) == {"dealpulse-migrate", "dealpulse-model-bootstrap", "dealpulse-retrain"}
    entrypoint = (ROOT / "deploy/docker/cli.Dockerfile").read_text()
    assert 'ENTRYPOINT ["dealpulse"]' in entrypoint
    for name, args in commands.items():
        parsed = build_parser().parse_args(args)  # exits (fails the test) on an unknown command or option
        assert parsed.command == {"dealpulse-migrate": "migrate", "dealpulse-model-bootstrap": "bootstrap-model",
                                  "dealpulse-retrain": "retrain"}[name], shlex.join(args)


def _env(template: Manifest) -> dict[str, Manifest]:
    [container] = template["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def test_the_migrate_job_takes_the_database_urls_and_keys_from_the_secret_and_nothing_else(
        rendered: Rendered) -> None:
    _, docs = rendered
    template = pod_templates(docs)["dealpulse-migrate"]
    env = _env(template)
    assert set(env) == {"DATABASE_ADMIN_URL", "DATABASE_URL", "DEALPULSE_SECRETS_KEYS"}
    for name, entry in env.items():
        assert entry["valueFrom"]["secretKeyRef"] == {"name": "dealpulse-secrets", "key": name}
    assert "envFrom" not in template["spec"]["containers"][0]


def test_the_model_jobs_write_the_registry_the_scorer_reads(rendered: Rendered) -> None:
    _, docs = rendered
    templates = pod_templates(docs)
    scorer = templates["scorer"]["spec"]
    [scorer_mount] = [m for m in scorer["containers"][0]["volumeMounts"] if m["name"] == "models"]
    assert scorer_mount["readOnly"] is True
    claim = next(v for v in scorer["volumes"] if v["name"] == "models")["persistentVolumeClaim"]["claimName"]
    assert of_kind(docs, "PersistentVolumeClaim")[claim]["spec"]["accessModes"] == ["ReadWriteMany"]
    for job in ("dealpulse-model-bootstrap", "dealpulse-retrain"):
        spec = templates[job]["spec"]
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "models")
        assert not mount.get("readOnly") and _env(templates[job])["DEALPULSE_MODEL_REGISTRY"]["value"] == \
            mount["mountPath"]
        assert next(v for v in spec["volumes"] if v["name"] == "models")["persistentVolumeClaim"]["claimName"] == claim
        assert any(m["mountPath"] == "/tmp" for m in spec["containers"][0]["volumeMounts"])  # read-only root


def test_a_running_retrain_cronjob_names_its_tenants(rendered: Rendered) -> None:
    _, docs = rendered
    cronjob = of_kind(docs, "CronJob")["dealpulse-retrain"]
    tenants = _env(cronjob["spec"]["jobTemplate"]["spec"]["template"])["DEALPULSE_RETRAIN_TENANTS"]["value"]
    assert cronjob["spec"]["suspend"] or [t for t in tenants.split(",") if t.strip()]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


def test_images_install_what_the_tests_install() -> None:
    for dockerfile in (ROOT / "deploy/docker").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        assert "-c requirements/constraints.txt" in text, f"{dockerfile.name} must install the pinned set"
        assert "USER 10001" in text
