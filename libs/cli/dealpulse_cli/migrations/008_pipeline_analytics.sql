-- Pipeline analytics (gateway: /v1/pipeline/metrics, /v1/reps, /v1/deals, /v1/deals/{id}/history) and verdict
-- overrides (gateway -> deal.verdict.override.v1 -> verdict). See docs/ARCHITECTURE.md, "Pipeline analytics".

-- 1. What the analytics filter, group and sort on, as plain columns of the read models, generated from the
-- payload (as 004 did for model_version): the scorer and verdict write exactly what they wrote before, the two can
-- never disagree, and an aggregate over 100,000 deals reads narrow columns instead of de-TOASTing every payload.
-- Times and dates in a deal snapshot are ISO 8601 written by pydantic from offset-aware values (ingest takes only
-- aware CRM times), so reading them does not depend on the session's TimeZone: that is what makes these two
-- wrappers of the (stable) casts safe to declare immutable, as a generated column requires.
CREATE FUNCTION dealpulse_instant(text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
AS $$ SELECT $1::timestamptz $$;

CREATE FUNCTION dealpulse_day(text) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
AS $$ SELECT $1::date $$;

ALTER TABLE deal_risk
    ADD COLUMN currency text GENERATED ALWAYS AS (upper(coalesce(payload->'deal'->>'currency', 'USD'))) STORED,
    ADD COLUMN stage text GENERATED ALWAYS AS (payload->'deal'->>'stage') STORED,
    ADD COLUMN forecast_category text GENERATED ALWAYS AS (payload->'deal'->>'forecast_category') STORED,
    ADD COLUMN deal_name text GENERATED ALWAYS AS (payload->'deal'->>'name') STORED,
    ADD COLUMN owner_name text GENERATED ALWAYS AS (payload->'deal'->>'owner_name') STORED,
    ADD COLUMN is_won boolean GENERATED ALWAYS AS ((payload->'deal'->>'is_won')::boolean) STORED,
    ADD COLUMN closed_at timestamptz GENERATED ALWAYS AS (dealpulse_instant(payload->'deal'->>'closed_at')) STORED,
    ADD COLUMN deal_created_at timestamptz
        GENERATED ALWAYS AS (dealpulse_instant(payload->'deal'->>'created_at')) STORED,
    ADD COLUMN expected_close_date date
        GENERATED ALWAYS AS (dealpulse_day(payload->'deal'->>'expected_close_date')) STORED;

-- The manager's override in force (verdict keeps it in the latest verdict's payload).
ALTER TABLE deal_verdict
    ADD COLUMN override_forecast text GENERATED ALWAYS AS (payload->'override'->>'forecast_category') STORED;

-- The open pipeline with everything its aggregate reads, in deal order on both read models, so the aggregate is a
-- merge of two index-only scans (no payload, no hash table); the open deals by owner (a rep's or a team's figures);
-- closed deals by when they closed; the few deleted deals, so "not deleted" is a probe of a tiny index.
CREATE INDEX deal_risk_open ON deal_risk (tenant_id, deal_id)
    INCLUDE (owner_id, currency, amount, win_probability, risk_score, risk_category, forecast_category, scored_at)
    WHERE NOT is_closed;
CREATE INDEX deal_risk_open_by_owner ON deal_risk (tenant_id, owner_id) WHERE NOT is_closed;
CREATE INDEX deal_verdict_judgement ON deal_verdict (tenant_id, deal_id)
    INCLUDE (ai_verdict, override_forecast, commit_admission, predictive_eligible);
CREATE INDEX deal_risk_closed ON deal_risk (tenant_id, closed_at)
    INCLUDE (deal_id, owner_id, is_won, deal_created_at) WHERE is_closed;
CREATE INDEX deals_deleted ON deals (tenant_id, deal_id) WHERE deleted_at IS NOT NULL;

-- 2. Overrides: verdict records every command (set or clear) once, by the command's event id, with the AI verdict
-- it was set beside and the override it replaced; the gateway's audit_log row says who asked, before and after.
ALTER TABLE verdict_overrides
    ADD COLUMN command_id text,
    ADD COLUMN action text NOT NULL DEFAULT 'set' CHECK (action IN ('set', 'clear')),
    ADD COLUMN ai_verdict text,
    ADD COLUMN previous_verdict text,
    ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE verdict_overrides ALTER COLUMN verdict DROP NOT NULL, ALTER COLUMN reason DROP NOT NULL;
ALTER TABLE verdict_overrides ADD CONSTRAINT verdict_overrides_set_says_what_and_why
    CHECK (action = 'clear' OR (verdict IS NOT NULL AND reason IS NOT NULL));
CREATE UNIQUE INDEX verdict_overrides_command ON verdict_overrides (tenant_id, command_id);
CREATE INDEX verdict_overrides_by_deal ON verdict_overrides (tenant_id, deal_id, at);

-- 3. The daily pipeline snapshot the 7/30/90-day trends compare with (gateway). Totals per owner and currency as
-- the open pipeline stood when the day's snapshot was taken ('' = deals without an owner); a snapshot day is
-- claimed once per tenant, so one replica takes it.
CREATE TABLE pipeline_snapshot_days (
    tenant_id  text NOT NULL,
    day        date NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

CREATE TABLE pipeline_daily (
    tenant_id              text NOT NULL,
    day                    date NOT NULL,
    owner_id               text NOT NULL,
    currency               text NOT NULL,
    open_deals             integer NOT NULL,
    scored_recently        integer NOT NULL,
    pipeline_value         double precision NOT NULL,
    risk_adjusted_value    double precision NOT NULL,
    risk_score_sum         bigint NOT NULL,
    low_deals              integer NOT NULL,
    low_amount             double precision NOT NULL,
    low_recent             integer NOT NULL,
    medium_deals           integer NOT NULL,
    medium_amount          double precision NOT NULL,
    medium_recent          integer NOT NULL,
    high_deals             integer NOT NULL,
    high_amount            double precision NOT NULL,
    high_recent            integer NOT NULL,
    critical_deals         integer NOT NULL,
    critical_amount        double precision NOT NULL,
    critical_recent        integer NOT NULL,
    rep_pipeline_amount    double precision NOT NULL,
    rep_best_case_amount   double precision NOT NULL,
    rep_commit_amount      double precision NOT NULL,
    rep_commit_deals       integer NOT NULL,
    rep_omitted_amount     double precision NOT NULL,
    ai_pipeline_amount     double precision NOT NULL,
    ai_best_case_amount    double precision NOT NULL,
    ai_commit_amount       double precision NOT NULL,
    final_pipeline_amount  double precision NOT NULL,
    final_best_case_amount double precision NOT NULL,
    final_commit_amount    double precision NOT NULL,
    final_commit_deals     integer NOT NULL,
    unjudged_deals         integer NOT NULL,
    overridden_deals       integer NOT NULL,
    admitted_deals         integer NOT NULL,
    admitted_amount        double precision NOT NULL,
    needs_review_deals     integer NOT NULL,
    needs_review_amount    double precision NOT NULL,
    not_admitted_deals     integer NOT NULL,
    not_admitted_amount    double precision NOT NULL,
    PRIMARY KEY (tenant_id, day, owner_id, currency)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pipeline_snapshot_days', 'pipeline_daily']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
            'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO dealpulse_app', t);
    END LOOP;
END
$$;

-- The snapshot job visits every tenant, one tenant transaction at a time: as in 004 and 007, a SECURITY DEFINER
-- function owned by the NOLOGIN lister role (which may read tenants.tenant_id, 007) returns tenant ids only.
CREATE FUNCTION gateway_snapshot_tenants() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tenant_id FROM public.tenants ORDER BY tenant_id
$$;

GRANT CREATE ON SCHEMA public TO dealpulse_tenant_lister;
ALTER FUNCTION gateway_snapshot_tenants() OWNER TO dealpulse_tenant_lister;
REVOKE CREATE ON SCHEMA public FROM dealpulse_tenant_lister;
REVOKE ALL ON FUNCTION gateway_snapshot_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway_snapshot_tenants() TO dealpulse_app;
