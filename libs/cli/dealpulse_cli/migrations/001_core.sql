-- DealPulse core schema. Ownership: ingest -> deals, deal_events; scorer -> risk_scores, deal_risk;
-- verdict -> verdicts, deal_verdict, verdict_overrides; alerts -> alerts, alert_feedback;
-- gateway -> tenants, users, tenant_settings, alert_preferences, audit_log.
-- Every table carries tenant_id and forces row-level security on it (see 002).

CREATE TABLE tenants (
    tenant_id       text PRIMARY KEY,
    name            text NOT NULL,
    webhook_secret  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    tenant_id   text NOT NULL REFERENCES tenants(tenant_id),
    user_id     text NOT NULL,
    name        text,
    email       text,
    role        text NOT NULL CHECK (role IN ('rep', 'manager', 'admin')),
    manager_id  text,
    timezone    text NOT NULL DEFAULT 'UTC',
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE tenant_settings (
    tenant_id   text PRIMARY KEY REFERENCES tenants(tenant_id),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    version     integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_preferences (
    tenant_id    text NOT NULL REFERENCES tenants(tenant_id),
    user_id      text NOT NULL,
    preferences  jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE audit_log (
    tenant_id   text NOT NULL,
    audit_id    bigint GENERATED ALWAYS AS IDENTITY,
    actor       text NOT NULL,
    action      text NOT NULL,
    subject     text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, audit_id)
);

CREATE TABLE deals (
    tenant_id              text NOT NULL,
    deal_id                text NOT NULL,
    snapshot               jsonb NOT NULL,
    source_modified_at     timestamptz NOT NULL,
    stage_entered_at       timestamptz,
    close_date_push_count  integer NOT NULL DEFAULT 0,
    amount_change_count    integer NOT NULL DEFAULT 0,
    activity_at            timestamptz[] NOT NULL DEFAULT '{}',
    last_event_id          text NOT NULL,
    deleted_at             timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, deal_id)
);

CREATE TABLE deal_events (
    tenant_id           text NOT NULL,
    event_id            text NOT NULL,
    deal_id             text NOT NULL,
    provider            text NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('applied', 'stale')),
    changed_fields      text[] NOT NULL,
    source_modified_at  timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX deal_events_by_deal ON deal_events (tenant_id, deal_id, received_at DESC);

CREATE TABLE risk_scores (
    tenant_id        text NOT NULL,
    source_event_id  text NOT NULL,
    deal_id          text NOT NULL,
    risk_score       smallint NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    risk_category    text NOT NULL,
    win_probability  double precision NOT NULL,
    model_version    text NOT NULL,
    features         real[] NOT NULL,
    payload          jsonb NOT NULL,
    scored_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, source_event_id)
);
CREATE INDEX risk_scores_by_deal ON risk_scores (tenant_id, deal_id, scored_at DESC);

-- The latest score per deal: the read model dashboards query.
CREATE TABLE deal_risk (
    tenant_id        text NOT NULL,
    deal_id          text NOT NULL,
    source_event_id  text NOT NULL,
    risk_score       smallint NOT NULL,
    risk_category    text NOT NULL,
    win_probability  double precision NOT NULL,
    amount           double precision,
    owner_id         text,
    is_closed        boolean NOT NULL,
    features         real[] NOT NULL,
    payload          jsonb NOT NULL,
    source_modified_at timestamptz NOT NULL,
    scored_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, deal_id)
);
CREATE INDEX deal_risk_by_score ON deal_risk (tenant_id, risk_score DESC) WHERE NOT is_closed;

CREATE TABLE verdicts (
    tenant_id            text NOT NULL,
    source_event_id      text NOT NULL,
    deal_id              text NOT NULL,
    ai_forecast          text NOT NULL,
    ai_verdict           text NOT NULL,
    commit_admission     text NOT NULL,
    predictive_eligible  boolean NOT NULL,
    payload              jsonb NOT NULL,
    decided_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, source_event_id)
);
CREATE INDEX verdicts_by_deal ON verdicts (tenant_id, deal_id, decided_at DESC);

CREATE TABLE deal_verdict (
    tenant_id            text NOT NULL,
    deal_id              text NOT NULL,
    source_event_id      text NOT NULL,
    ai_forecast          text NOT NULL,
    ai_verdict           text NOT NULL,
    commit_admission     text NOT NULL,
    predictive_eligible  boolean NOT NULL,
    payload              jsonb NOT NULL,
    decided_at           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, deal_id)
);

CREATE TABLE verdict_overrides (
    tenant_id     text NOT NULL,
    override_id   bigint GENERATED ALWAYS AS IDENTITY,
    deal_id       text NOT NULL,
    verdict       text NOT NULL,
    reason        text NOT NULL,
    overridden_by text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, override_id)
);

CREATE TABLE alerts (
    tenant_id        text NOT NULL,
    alert_id         text NOT NULL,
    deal_id          text NOT NULL,
    alert_type       text NOT NULL,
    source_event_id  text NOT NULL,
    payload          jsonb NOT NULL,
    raised_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE INDEX alerts_by_deal ON alerts (tenant_id, deal_id, alert_type, raised_at DESC);

CREATE TABLE alert_feedback (
    tenant_id    text NOT NULL,
    feedback_id  bigint GENERATED ALWAYS AS IDENTITY,
    alert_id     text NOT NULL,
    user_id      text NOT NULL,
    action       text NOT NULL CHECK (action IN ('acknowledge', 'snooze', 'false_alarm')),
    note         text,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, feedback_id)
);
