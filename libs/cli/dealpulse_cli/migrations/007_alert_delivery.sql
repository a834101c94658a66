-- Alert delivery (docs/ALERTS.md): every alert x channel x recipient is a row the delivery worker sends, with
-- retries; scheduled digests and summaries are claimed once per user and period; feedback can snooze a deal.
-- Writers: alerts -> alert_deliveries, alert_schedule_runs; gateway -> alert_feedback (it takes the clicks),
-- tenant_settings' "alert_channels" key and alert_preferences (it takes the set-up).

CREATE TABLE alert_deliveries (
    tenant_id        text NOT NULL,
    -- Derived from what is delivered (alert, channel, recipient), so a replay finds the row it wrote before.
    delivery_id      text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('alert', 'digest', 'summary', 'test')),
    alert_id         text,
    deal_id          text,
    channel          text NOT NULL CHECK (channel IN ('slack_webhook', 'slack_dm', 'email')),
    recipient        text NOT NULL,  -- a user id, or 'channel' for the tenant's webhook
    address          text,           -- the recipient's e-mail (also how a Slack user is found)
    message          jsonb NOT NULL, -- rendered at planning time: the worker only sends
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    deliver_after    timestamptz NOT NULL,  -- quiet hours defer a delivery to here
    next_attempt_at  timestamptz NOT NULL,  -- deliver_after, then moved on by backoff and Retry-After
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (tenant_id, delivery_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (tenant_id, alert_id);

-- One row per user, schedule kind and period ('2026-12-07' for a daily digest, '2026-W50' for a weekly summary):
-- the primary key is what lets only one replica, once, send a period's digest, also after an outage.
CREATE TABLE alert_schedule_runs (
    tenant_id   text NOT NULL,
    user_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('digest', 'summary')),
    period      text NOT NULL,
    deliveries  integer NOT NULL,
    ran_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, kind, period)
);

-- Feedback names the deal and type it silences (a snooze) and until when; a Slack retry of the same click
-- (same action id) is recognised by its key.
ALTER TABLE alert_feedback ADD COLUMN deal_id text;
ALTER TABLE alert_feedback ADD COLUMN alert_type text;
ALTER TABLE alert_feedback ADD COLUMN snoozed_until timestamptz;
ALTER TABLE alert_feedback ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX alert_feedback_dedupe ON alert_feedback (tenant_id, dedupe_key);
CREATE INDEX alert_feedback_snoozes ON alert_feedback (tenant_id, deal_id, alert_type, snoozed_until)
    WHERE snoozed_until IS NOT NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alert_deliveries', 'alert_schedule_runs']
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

-- The delivery worker and the scheduler serve every tenant, one tenant transaction at a time, so they must first
-- learn which tenants to visit. As in 004: SECURITY DEFINER functions owned by the NOLOGIN lister role, which may
-- read only the columns these need; they return tenant ids and nothing else.
GRANT SELECT (tenant_id, status, next_attempt_at) ON alert_deliveries TO dealpulse_tenant_lister;
CREATE POLICY tenant_listing ON alert_deliveries FOR SELECT TO dealpulse_tenant_lister USING (true);
GRANT SELECT (tenant_id) ON tenants TO dealpulse_tenant_lister;
CREATE POLICY tenant_listing ON tenants FOR SELECT TO dealpulse_tenant_lister USING (true);

CREATE FUNCTION alerts_due_delivery_tenants() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT tenant_id FROM public.alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY tenant_id
$$;

CREATE FUNCTION alerts_all_tenants() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tenant_id FROM public.tenants ORDER BY tenant_id
$$;

GRANT CREATE ON SCHEMA public TO dealpulse_tenant_lister;
ALTER FUNCTION alerts_due_delivery_tenants() OWNER TO dealpulse_tenant_lister;
ALTER FUNCTION alerts_all_tenants() OWNER TO dealpulse_tenant_lister;
REVOKE CREATE ON SCHEMA public FROM dealpulse_tenant_lister;

REVOKE ALL ON FUNCTION alerts_due_delivery_tenants() FROM PUBLIC;
REVOKE ALL ON FUNCTION alerts_all_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts_due_delivery_tenants() TO dealpulse_app;
GRANT EXECUTE ON FUNCTION alerts_all_tenants() TO dealpulse_app;
