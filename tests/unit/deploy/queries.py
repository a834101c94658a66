"""The PromQL the alerting rules and the Grafana dashboard run, parsed (promql-parser): which metrics each query
selects and which labels it relies on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import promql_parser

from tests.unit.deploy.conftest import ROOT, Manifest, of_kind

DASHBOARD = ROOT / "deploy/k8s/base/grafana/dealpulse.json"
# Grafana's variables, as a query sees them once Grafana filled them in.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$namespace": "dealpulse"}


@dataclass
class Query:
    where: str
    metrics: set[str] = field(default_factory=set)
    labels_used: list[tuple[str, set[str]]] = field(default_factory=list)  # (label, metrics it must belong to)


def _selected(node: object) -> set[str]:
    names: set[str] = set()
    promql_parser.walk(node, lambda n: names.add(n.name) if isinstance(n, promql_parser.VectorSelector) else None)
    return names


def analyse(expr: str, where: str) -> Query:
    """The metrics a query selects and the labels it relies on, with the metrics each label must exist on."""
    query = Query(where)
    parsed = promql_parser.parse(expr)  # raises on a syntax error

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            query.metrics.add(node.name)
            query.labels_used += [(m.name, {node.name}) for m in node.matchers.matchers if m.name != "__name__"]
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            query.labels_used += [(label, _selected(node.expr)) for label in node.modifier.labels]
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier and node.modifier.matching:
            query.labels_used += [(label, _selected(node)) for label in node.modifier.matching.labels]

    promql_parser.walk(parsed, visit)
    return query


def dashboard_queries() -> list[Query]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: a variable the dashboard does not define"
            queries.append(analyse(expr, f"dashboard panel {panel['title']!r}"))
    return queries


def rules(docs: tuple[Manifest, ...]) -> list[Manifest]:
    [rule_set] = of_kind(docs, "PrometheusRule").values()
    return [rule for group in rule_set["spec"]["groups"] for rule in group["rules"]]



def rule_queries(docs: tuple[Manifest, ...]) -> list[Query]:
    return [analyse(rule["expr"], f"rule {rule['alert']}") for rule in rules(docs)]
