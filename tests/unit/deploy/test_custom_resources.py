"""Custom resources checked against their operators' published CRD schemas, as packaged by cloudcoil (pydantic
models generated from the CRDs: types, required fields, enums, patterns), and nothing an operator would prune; the
Strimzi KafkaTopic, whose schema no reachable package ships, by a test of its required fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator
from pydantic import BaseModel, ValidationError

from tests.unit.deploy.conftest import Manifest, of_kind

Rendered = tuple[str, tuple[Manifest, ...]]
SCHEMAS: dict[tuple[str, str], type[BaseModel]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): prometheus_operator.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): prometheus_operator.PrometheusRule,
}


def _check_against_crd(doc: Manifest) -> None:
    """Valid for the CRD, and every field known to it (an unknown one would be dropped by the API server)."""
    model = SCHEMAS[(doc["apiVersion"], doc["kind"])]
    kept = model.model_validate(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert kept == doc, f"{doc['kind']} {doc['metadata']['name']}: fields unknown to the CRD"


def test_keda_and_prometheus_operator_resources_match_their_crds(rendered: Rendered) -> None:
    _, docs = rendered
    checked = [doc for doc in docs if (doc.get("apiVersion"), doc["kind"]) in SCHEMAS]
    assert {doc["kind"] for doc in checked} == {kind for _, kind in SCHEMAS}
    for doc in checked:
        _check_against_crd(doc)


def _broken(docs: tuple[Manifest, ...], kind: str, path: tuple[Any, ...], value: Any) -> Manifest:
    doc = copy.deepcopy(next(iter(of_kind(docs, kind).values())))
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("kind", "path", "value"), [
    ("ScaledObject", ("spec", "maxReplicaCount"), "twelve"),
    ("ScaledObject", ("spec", "triggers", 0, "metadata", "lagThreshold"), 500),
    ("ServiceMonitor", ("spec", "endpoints", 0, "scheme"), "gopher"),
    ("ServiceMonitor", ("spec", "endpoints", 0, "portName"), "http"),
    ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "for"), "ten minutes"),
])
def test_the_check_refuses_what_the_crds_refuse(rendered: Rendered, kind: str, path: tuple[Any, ...],
                                                value: Any) -> None:
    _, docs = rendered
    with pytest.raises((ValidationError, AssertionError)):
        _check_against_crd(_broken(docs, kind, path, value))


def test_kafka_topics_have_what_strimzi_requires(rendered: Rendered) -> None:
    _, docs = rendered
    topics = of_kind(docs, "KafkaTopic")
    assert topics
    for name, topic in topics.items():
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "dealpulse", name  # the operator's selector
        spec = topic["spec"]
        assert set(spec) <= {"topicName", "partitions", "replicas", "config"}, name
        assert isinstance(spec["partitions"], int) and spec["partitions"] >= 1
        assert isinstance(spec["replicas"], int) and 1 <= spec["replicas"] <= 32767
        assert all(isinstance(value, str | int | bool) for value in spec["config"].values())
        assert int(spec["config"]["min.insync.replicas"]) <= spec["replicas"]
        assert int(spec["config"]["retention.ms"]) > 0


def test_one_service_monitor_scrapes_each_service_on_its_http_port(rendered: Rendered) -> None:
    _, docs = rendered
    services = of_kind(docs, "Service")
    monitors = of_kind(docs, "ServiceMonitor")
    assert set(monitors) == set(services)
    for name, monitor in monitors.items():
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = {s for s, service in services.items()
                    if all(service["metadata"]["labels"].get(k) == v for k, v in selector.items())}
        assert selected == {name}
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {port["name"] for port in services[name]["spec"]["ports"]}
        assert endpoint["path"] == "/metrics"
