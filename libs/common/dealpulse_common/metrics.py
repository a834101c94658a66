"""Every DealPulse metric, declared once with its name, unit and help text."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The *_created series double every family and carry nothing a dashboard reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

EVENTS_CONSUMED = Counter(
    "dealpulse_events_consumed_total", "Events read from a topic and handled", ["service", "topic"]
)
EVENTS_PUBLISHED = Counter(
    "dealpulse_events_published_total", "Events acknowledged by the broker", ["service", "topic"]
)
DEAD_LETTERS = Counter(
    "dealpulse_dead_letters_total", "Messages sent to the dead-letter topic", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "dealpulse_consumer_lag",
    "Records of a partition the group has not handled yet: the last fetch's highwater minus the position after the "
    "last handled batch, exported by the replica holding the partition",
    ["group", "topic", "partition"],
)
BATCH_DURATION = Histogram(
    "dealpulse_batch_duration_seconds", "Time to handle one consumed micro-batch", ["service"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "dealpulse_http_requests_total", "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "dealpulse_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method, route template and status",
    ["method", "route", "status"], buckets=_LATENCY_BUCKETS,
)
WEBHOOKS = Counter(
    "dealpulse_webhooks_total", "Webhook deliveries by provider and outcome", ["provider", "outcome"]
)
SCORES = Counter("dealpulse_scores_total", "Deals scored, by risk category", ["category"])
INFERENCE_DURATION = Histogram(
    "dealpulse_inference_duration_seconds", "ONNX inference plus explanation time per batch",
    buckets=_LATENCY_BUCKETS,
)
VERDICTS = Counter("dealpulse_verdicts_total", "Verdicts decided, by AI forecast", ["ai_forecast"])
ALERTS = Counter("dealpulse_alerts_total", "Alerts raised, by type", ["alert_type"])
ALERTS_THROTTLED = Counter(
    "dealpulse_alerts_throttled_total", "Alerts suppressed by the per-deal throttle", ["alert_type"]
)
ALERT_DELIVERIES = Counter(
    "dealpulse_alert_deliveries_total",
    "Alert, digest and summary deliveries by channel and outcome (sent, retried, failed after the retry budget)",
    ["channel", "outcome"],
)
ALERT_DELIVERIES_DEFERRED = Counter(
    "dealpulse_alert_deliveries_deferred_total", "Deliveries planned to wait for the end of a recipient's quiet hours",
    ["channel"],
)
ALERTS_SNOOZED = Counter(
    "dealpulse_alerts_snoozed_total", "Alerts not raised because a user snoozed the deal for that type", ["alert_type"]
)
ALERTS_TO_DIGEST = Counter(
    "dealpulse_alerts_to_digest_total",
    "Alerts of deals already critical on their first score, left to the digest (first_score_critical_to_digest)",
    ["alert_type"],
)
ALERT_FEEDBACK = Counter(
    "dealpulse_alert_feedback_total", "Feedback on alerts (acknowledge, snooze, false_alarm) by alert type",
    ["alert_type", "action"],
)
ALERT_PRECISION = Gauge(
    "dealpulse_alert_precision",
    "Share of a tenant's alerts of a type not marked false alarm, as last computed by the gateway", ["alert_type"],
)
STREAM_CONNECTIONS = Gauge("dealpulse_stream_connections", "Open WebSocket stream connections")
STREAM_MESSAGES = Counter(
    "dealpulse_stream_messages_total", "Messages delivered to WebSocket clients", ["kind"]
)
WEBHOOK_TO_STREAM = Histogram(
    "dealpulse_webhook_to_stream_seconds", "Webhook received to score fanned out to the stream",
    buckets=_LATENCY_BUCKETS,
)
MODEL_INFO = Gauge("dealpulse_model_active", "Active model version (value 1)", ["scope", "version"])
FEATURE_PSI = Gauge(
    "dealpulse_feature_psi",
    "Population stability index of one feature: recent live traffic against the serving model's training split",
    ["scope", "feature"],
)
DRIFT_WINDOW_ROWS = Gauge(
    "dealpulse_drift_window_rows", "Live feature vectors in the drift window behind dealpulse_feature_psi", ["scope"]
)
RESCORES = Counter(
    "dealpulse_rescores_total", "Open deals re-scored because the model serving them changed", ["scope"]
)
RATE_LIMITED = Counter(
    "dealpulse_rate_limited_total", "Requests refused with 429 because a quota was used up", ["scope"]
)

PIPELINE_CACHE = Counter(
    "dealpulse_pipeline_cache_total",
    "Open-pipeline reads of the analytics routes: hit (the tenant's pipeline version was unchanged), miss (recomputed "
    "and stored) or unavailable (Redis away: computed, not stored)",
    ["result"],
)

ALL_METRICS = (
    EVENTS_CONSUMED, EVENTS_PUBLISHED, DEAD_LETTERS, CONSUMER_LAG, BATCH_DURATION, HTTP_REQUESTS, HTTP_DURATION,
    WEBHOOKS, SCORES, INFERENCE_DURATION, VERDICTS, ALERTS, ALERTS_THROTTLED, ALERT_DELIVERIES,
    ALERT_DELIVERIES_DEFERRED, ALERTS_SNOOZED, ALERTS_TO_DIGEST, ALERT_FEEDBACK, ALERT_PRECISION, STREAM_CONNECTIONS,
    STREAM_MESSAGES, WEBHOOK_TO_STREAM, MODEL_INFO, FEATURE_PSI, DRIFT_WINDOW_ROWS, RESCORES, RATE_LIMITED,
    PIPELINE_CACHE,
)
