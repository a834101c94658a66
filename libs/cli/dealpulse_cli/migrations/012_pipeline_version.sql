-- The gateway's pipeline figures are cached (services/gateway/dealpulse_gateway/pipeline_cache.py) and stay valid
-- while a tenant's *pipeline version* is unchanged: the highest change number on the two read models they fold
-- plus the count of deleted deals. Every insert or update of deal_risk (scorer) or deal_verdict (verdict, overrides
-- included) takes the next number of one sequence: a sequence takes no lock, so writers never wait on each other
-- for it (a counter row per tenant would serialise every scorer and verdict transaction of the tenant).
CREATE SEQUENCE pipeline_change_seq;
GRANT USAGE ON SEQUENCE pipeline_change_seq TO dealpulse_app;

ALTER TABLE deal_risk ADD COLUMN pipeline_change bigint NOT NULL DEFAULT nextval('pipeline_change_seq');
ALTER TABLE deal_verdict ADD COLUMN pipeline_change bigint NOT NULL DEFAULT nextval('pipeline_change_seq');

CREATE FUNCTION number_pipeline_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.pipeline_change := nextval('pipeline_change_seq');
    RETURN NEW;
END
$$;
CREATE TRIGGER deal_risk_pipeline_change BEFORE UPDATE ON deal_risk
    FOR EACH ROW EXECUTE FUNCTION number_pipeline_change();
CREATE TRIGGER deal_verdict_pipeline_change BEFORE UPDATE ON deal_verdict
    FOR EACH ROW EXECUTE FUNCTION number_pipeline_change();

CREATE INDEX deal_risk_pipeline_change ON deal_risk (tenant_id, pipeline_change);
CREATE INDEX deal_verdict_pipeline_change ON deal_verdict (tenant_id, pipeline_change);

-- The deal table's first page in its default order (risk, highest first) is an index walk, not a sort of every
-- open deal.
CREATE INDEX deal_risk_open_by_risk ON deal_risk (tenant_id, risk_score DESC NULLS LAST, deal_id DESC)
    WHERE NOT is_closed;

-- The dashboard's alerts panel opens on the tenant's newest alerts (GET /v1/alerts).
CREATE INDEX alerts_recent ON alerts (tenant_id, raised_at DESC, alert_id DESC);
