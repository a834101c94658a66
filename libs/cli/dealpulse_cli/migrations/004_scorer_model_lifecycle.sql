-- What the scorer needs to re-score open deals after a model promotion (docs/MODEL.md, "Lifecycle").

-- 1. The model version of each deal's latest score, as a plain column. Re-scoring looks for open deals whose latest
-- score another version made; reading it out of `payload` would de-TOAST kilobytes of JSON per row. Generated from
-- the payload, so the one writer (the scorer's upsert) stays as it is and the two can never disagree.
ALTER TABLE deal_risk ADD COLUMN model_version text GENERATED ALWAYS AS (payload->>'model_version') STORED;

-- 2. Which tenants have open scored deals: the scorer re-scores every open deal after a global model promotion, one
-- tenant at a time inside tenant_transaction, so it must first learn which tenants to visit. Forced row-level
-- security hides every deal_risk row from a connection that has not set a tenant, and that is how it should stay.
--
-- Why a SECURITY DEFINER function, and why this shape:
-- * the registry's tenant folders name only tenants with a model of their own, not the ones the global model
--   serves; `tenants` is under the same forced RLS; a policy keyed on a session setting would let any service
--   connection lift isolation by setting it;
-- * the function returns tenant ids and nothing else, and is owned by a NOLOGIN role whose only rights are reading
--   deal_risk's tenant_id and is_closed columns (column grants) through a policy of its own. Nobody logs in as it
--   and the services are not members of it, so the service role still sees one tenant's rows per transaction;
-- * the migrating role must be a superuser or a member of dealpulse_tenant_lister to hand it the function (as on
--   the embedded stack and with a managed cluster's admin role that created it).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dealpulse_tenant_lister') THEN
        CREATE ROLE dealpulse_tenant_lister NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO dealpulse_tenant_lister;
GRANT SELECT (tenant_id, is_closed) ON deal_risk TO dealpulse_tenant_lister;
CREATE POLICY tenant_listing ON deal_risk FOR SELECT TO dealpulse_tenant_lister USING (true);

CREATE FUNCTION scorer_open_deal_tenants() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT tenant_id FROM public.deal_risk WHERE NOT is_closed ORDER BY tenant_id
$$;

-- A new owner needs CREATE on the function's schema at the moment ownership moves, and not after.
GRANT CREATE ON SCHEMA public TO dealpulse_tenant_lister;
ALTER FUNCTION scorer_open_deal_tenants() OWNER TO dealpulse_tenant_lister;
REVOKE CREATE ON SCHEMA public FROM dealpulse_tenant_lister;

REVOKE ALL ON FUNCTION scorer_open_deal_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scorer_open_deal_tenants() TO dealpulse_app;
