-- Bulk imports (ingest): one row per uploaded file and its progress, plus the per-row error report.
-- Rows themselves go through the same path as webhooks (deal_events / deals), so they need no table here.

CREATE TABLE import_jobs (
    tenant_id     text NOT NULL,
    job_id        uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    file_name     text,
    format        text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    mapping       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by    text NOT NULL,
    total_rows    integer,
    processed     integer NOT NULL DEFAULT 0,
    accepted      integer NOT NULL DEFAULT 0,
    duplicates    integer NOT NULL DEFAULT 0,
    stale         integer NOT NULL DEFAULT 0,
    rejected      integer NOT NULL DEFAULT 0,
    failure       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    -- Refreshed while the job runs; a running job whose heartbeat stopped was interrupted (process restart).
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, job_id)
);

CREATE TABLE import_errors (
    tenant_id   text NOT NULL,
    job_id      uuid NOT NULL,
    row_number  integer NOT NULL,
    field       text NOT NULL,
    reason      text NOT NULL,
    PRIMARY KEY (tenant_id, job_id, row_number, field)
);

-- Same isolation as every other table (002): forced RLS keyed on app.tenant_id, and the service role's grants.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['import_jobs', 'import_errors']
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
