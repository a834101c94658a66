"""The alerting rules and the Grafana dashboard query only what the services declare, and each rule's runbook link
leads to its section of docs/OPERATIONS.md.

Every query is parsed as PromQL (promql-parser); each metric it selects must be a declared metric's series
(``dealpulse_common.metrics``: a counter's ``_total``, a histogram's ``_bucket``/``_count``/``_sum``), and every
label it matches, groups or joins by must be one of that metric's labels or one Prometheus adds to each target."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.metrics import MetricWrapperBase

from dealpulse_common.metrics import ALL_METRICS
from dealpulse_scorer.performance import MAJOR_SHIFT
from tests.unit.deploy.conftest import ROOT, Manifest, of_kind
from tests.unit.deploy.queries import DASHBOARD, Query, analyse, dashboard_queries, rule_queries, rules

Rendered = tuple[str, tuple[Manifest, ...]]
OPERATIONS = ROOT / "docs/OPERATIONS.md"
# Labels prometheus-operator puts on every target a ServiceMonitor finds (the metrics' own ``service`` wins).
TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
RULES = {"DealPulseConsumerLagGrowing", "DealPulseDeadLetters", "DealPulseHttp5xx", "DealPulseEndToEndLatencyHigh",
         "DealPulseAlertDeliveryFailing", "DealPulseFeatureDrift"}


def _series(metric: MetricWrapperBase) -> dict[str, set[str]]:
    """The sample names a declared metric exposes, each with the labels it carries."""
    name, kind, labels = metric._name, metric._type, set(metric._labelnames)
    if kind == "counter":
        return {f"{name}_total": labels}
    if kind == "histogram":
        return {f"{name}_bucket": labels | {"le"}, f"{name}_count": labels, f"{name}_sum": labels}
    return {name: labels}


DECLARED: dict[str, set[str]] = {series: labels for metric in ALL_METRICS
                                 for series, labels in _series(metric).items()}


def _check(query: Query) -> None:
    assert query.metrics, f"{query.where} selects no metric"
    undeclared = query.metrics - set(DECLARED)
    assert not undeclared, f"{query.where} queries metrics no service declares: {undeclared}"
    for label, metrics in query.labels_used:
        carried = set.union(*(DECLARED[m] for m in metrics)) if metrics else set()
        assert label in carried | TARGET_LABELS, f"{query.where}: no metric of {metrics} has the label {label!r}"


def test_every_dashboard_query_reads_declared_metrics_and_labels() -> None:
    queries = dashboard_queries()
    for query in queries:
        _check(query)
    read = set.union(*(q.metrics for q in queries))
    # What an SRE looks for first: throughput per topic, lag per group, end-to-end latency, score distribution,
    # alert volume and delivery failures.
    assert {"dealpulse_events_published_total", "dealpulse_consumer_lag", "dealpulse_webhook_to_stream_seconds_bucket",
            "dealpulse_scores_total", "dealpulse_alerts_total", "dealpulse_alert_deliveries_total"} <= read


def test_the_dashboards_variables_read_a_declared_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            [metric] = re.findall(r"label_values\((\w+),", variable["definition"])
            assert metric in DECLARED


def test_the_dashboard_ships_in_every_overlay(rendered: Rendered) -> None:
    _, docs = rendered
    config = of_kind(docs, "ConfigMap")["dealpulse-grafana-dashboard"]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["dealpulse.json"]) == json.loads(DASHBOARD.read_text())


def test_every_rule_reads_declared_metrics_and_says_what_to_do(rendered: Rendered) -> None:
    _, docs = rendered
    alerting = rules(docs)
    assert {rule["alert"] for rule in alerting} == RULES
    runbook = OPERATIONS.read_text()
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE)}
    for query in rule_queries(docs):
        _check(query)
    for rule in alerting:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://") and "/docs/OPERATIONS.md#" in url, url
        assert url.rsplit("#", 1)[1] in anchors, f"{rule['alert']}: no section {url} in docs/OPERATIONS.md"
        assert rule["annotations"]["summary"]


def test_the_drift_rule_uses_the_scorers_own_threshold(rendered: Rendered) -> None:
    _, docs = rendered
    [drift] = [rule for rule in rules(docs) if rule["alert"] == "DealPulseFeatureDrift"]
    assert float(drift["expr"].rsplit(">", 1)[1]) == MAJOR_SHIFT


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize(("expr", "problem"), [
    ("sum(rate(dealpulse_nothing_total[5m]))", "no service declares"),
    ("sum by (tenant) (rate(dealpulse_scores_total[5m]))", "label 'tenant'"),
    ('dealpulse_alert_deliveries_total{result="failed"}', "label 'result'"),
    ("histogram_quantile(0.99, sum by (le) (rate(dealpulse_scores_total[5m])))", "label 'le'"),
])
def test_the_check_refuses_undeclared_metrics_and_labels(expr: str, problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        _check(analyse(expr, "a query"))
