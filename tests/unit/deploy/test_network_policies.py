"""What the rendered NetworkPolicies allow, evaluated as Kubernetes does: a pod selected by a policy of a direction
accepts (or sends) only what one of those policies' rules allows; peers are pods of the namespace, pods of other
namespaces, or addresses outside the cluster."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.deploy.conftest import Manifest, of_kind, pod_templates

Rendered = tuple[str, tuple[Manifest, ...]]


@dataclass(frozen=True)
class Peer:
    """A pod (of our namespace when ``namespace`` is empty) or an address outside the cluster (``ip``)."""

    labels: dict[str, str] = field(default_factory=dict)
    namespace: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    ports: dict[str, int] = field(default_factory=dict)  # a pod's named container ports


OUTSIDE = Peer(ip="203.0.113.7")
PROMETHEUS = Peer({"app.kubernetes.io/name": "prometheus"}, {"kubernetes.io/metadata.name": "monitoring"})
# Where a workload may send: name -> (peer, protocol, port).
DESTINATIONS: dict[str, tuple[Peer, str, int]] = {
    "dns": (Peer({"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}), "UDP", 53),
    "kafka": (Peer({"strimzi.io/cluster": "dealpulse"}, {"kubernetes.io/metadata.name": "kafka"}), "TCP", 9092),
    "postgresql": (Peer(ip="10.20.0.5"), "TCP", 5432),
    "redis": (Peer(ip="10.20.0.6"), "TCP", 6379),
    "slack": (Peer(ip="44.237.180.172"), "TCP", 443),
    "smtp": (Peer(ip="10.30.0.25"), "TCP", 587),
    "scorer": (Peer({"app.kubernetes.io/name": "scorer"}), "TCP", 8002),
    "alerts": (Peer({"app.kubernetes.io/name": "alerts"}), "TCP", 8004),
    "verdict": (Peer({"app.kubernetes.io/name": "verdict"}), "TCP", 8003),
    "https inside the cluster network": (Peer(ip="10.0.0.1"), "TCP", 443),
    "cloud metadata": (Peer(ip="169.254.169.254"), "TCP", 80),
    "the internet over http": (Peer(ip="44.237.180.172"), "TCP", 80),
}
EGRESS = {
    "ingest": {"dns", "kafka", "postgresql", "redis"},  # quotas and revoked users
    "scorer": {"dns", "kafka", "postgresql"},
    "verdict": {"dns", "kafka", "postgresql"},
    "alerts": {"dns", "kafka", "postgresql", "redis", "slack", "smtp"},
    "gateway": {"dns", "kafka", "postgresql", "redis", "scorer", "alerts"},
    "dealpulse-migrate": {"dns", "postgresql"},
    "dealpulse-retrain": {"dns", "postgresql"},
    "dealpulse-model-bootstrap": {"dns"},
}


def _selects(selector: Manifest | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {"In": present and labels[key] in values, "NotIn": not present or labels[key] not in values,
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def _peer_matches(rule_peer: Manifest, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        address, block = ipaddress.ip_address(peer.ip), rule_peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(excluded) for excluded in block.get("except", []))
    if peer.ip is not None:
        return False
    if "namespaceSelector" in rule_peer:
        return _selects(rule_peer["namespaceSelector"], peer.namespace) and _selects(rule_peer.get("podSelector"),
                                                                                    peer.labels)
    return not peer.namespace and _selects(rule_peer["podSelector"], peer.labels)


def _port_matches(rule: Manifest, protocol: str, port: int, named: dict[str, int]) -> bool:
    if "ports" not in rule:
        return True
    return any(p.get("protocol", "TCP") == protocol and (p["port"] == port or named.get(str(p["port"])) == port)
               for p in rule["ports"])


def allowed(policies: list[Manifest], direction: str, pod: Peer, peer: Peer, protocol: str, port: int,
            named: dict[str, int]) -> bool:
    """Whether ``pod`` accepts from (Ingress) or may send to (Egress) ``peer`` on ``port``."""
    key = direction.lower()
    selecting = [p["spec"] for p in policies if direction in p["spec"]["policyTypes"]
                 and _selects(p["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True  # not isolated in this direction
    peers_key = "from" if key == "ingress" else "to"
    return any(_port_matches(rule, protocol, port, named)
               and (peers_key not in rule or any(_peer_matches(p, peer) for p in rule[peers_key]))
               for spec in selecting for rule in spec.get(key, []))


def _workloads(docs: tuple[Manifest, ...]) -> dict[str, Peer]:
    found = {}
    for name, template in pod_templates(docs).items():
        ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])
                 if "name" in p}
        found[name] = Peer(template["metadata"]["labels"], ports=ports)
    return found


def _reaches(policies: list[Manifest], source: Peer, target: Peer, protocol: str, port: int) -> bool:
    """Both ends agree: the source may send (egress) and the target accepts (ingress, for a pod of ours)."""
    sends = allowed(policies, "Egress", source, target, protocol, port, {})
    if target.ip is not None or target.namespace:
        return sends
    return sends and allowed(policies, "Ingress", target, source, protocol, port, target.ports)


def test_only_the_gateway_and_ingest_take_traffic_from_outside(rendered: Rendered) -> None:
    _, docs = rendered
    policies = list(of_kind(docs, "NetworkPolicy").values())
    workloads = _workloads(docs)
    reachable = {name for name, pod in workloads.items()
                 for port in {*pod.ports.values(), 80, 443, 5432}
                 if allowed(policies, "Ingress", pod, OUTSIDE, "TCP", port, pod.ports)}
    assert reachable == {"gateway", "ingest"}
    for name in ("gateway", "ingest"):
        pod = workloads[name]
        assert {port for port in range(1, 20_000) if allowed(policies, "Ingress", pod, OUTSIDE, "TCP", port,
                                                             pod.ports)} == {pod.ports["http"]}


def test_only_the_gateway_reaches_the_scorer(rendered: Rendered) -> None:
    _, docs = rendered
    policies = list(of_kind(docs, "NetworkPolicy").values())
    workloads = _workloads(docs)
    scorer = workloads["scorer"]
    callers = {name for name, pod in workloads.items() if name != "scorer"
               and _reaches(policies, pod, scorer, "TCP", scorer.ports["http"])}
    assert callers == {"gateway"}


def test_each_workload_sends_only_where_its_work_needs(rendered: Rendered) -> None:
    _, docs = rendered
    policies = list(of_kind(docs, "NetworkPolicy").values())
    workloads = _workloads(docs)
    assert set(workloads) == set(EGRESS)
    for name, pod in workloads.items():
        reached = {where for where, (target, protocol, port) in DESTINATIONS.items()
                   if _reaches(policies, pod, _resolved(target, workloads), protocol, port)}
        assert reached == EGRESS[name], name


# The one-off pods docs/OPERATIONS.md runs the CLI in: `dealpulse dlq` and the model commands (ops), `dealpulse user`
# (people: the users table and the revocations).
@pytest.mark.parametrize(("label", "reaches"), [("ops", {"dns", "kafka"}),
                                                ("people", {"dns", "postgresql", "redis"})])
def test_an_operators_one_off_pod_reaches_only_what_its_commands_need(rendered: Rendered, label: str,
                                                                       reaches: set[str]) -> None:
    _, docs = rendered
    policies = list(of_kind(docs, "NetworkPolicy").values())
    pod = Peer({"app.kubernetes.io/name": label, "app.kubernetes.io/part-of": "dealpulse"})
    workloads = _workloads(docs)
    reached = {where for where, (target, protocol, port) in DESTINATIONS.items()
               if _reaches(policies, pod, _resolved(target, workloads), protocol, port)}
    assert reached == reaches
    assert not allowed(policies, "Ingress", pod, OUTSIDE, "TCP", 8080, {})


def test_prometheus_scrapes_every_service_and_nothing_else_is_exposed_to_it(rendered: Rendered) -> None:
    _, docs = rendered
    policies = list(of_kind(docs, "NetworkPolicy").values())
    for name, pod in _workloads(docs).items():
        scraped = allowed(policies, "Ingress", pod, PROMETHEUS, "TCP", pod.ports.get("http", 0), pod.ports)
        assert scraped is ("http" in pod.ports), name


def _resolved(target: Peer, workloads: dict[str, Peer]) -> Peer:
    """A destination pod of ours with its real labels and named ports."""
    name = target.labels.get("app.kubernetes.io/name")
    return workloads.get(name, target) if not target.namespace and target.ip is None else target


def test_the_evaluator_denies_what_no_policy_allows() -> None:
    policies: list[dict[str, Any]] = [{"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}]
    pod = Peer({"app.kubernetes.io/name": "x"})
    assert not allowed(policies, "Ingress", pod, OUTSIDE, "TCP", 80, {})
    assert not allowed(policies, "Egress", pod, OUTSIDE, "TCP", 80, {})
    assert allowed([], "Egress", pod, OUTSIDE, "TCP", 80, {})  # no policy at all: not isolated
