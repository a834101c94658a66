-- People and tenant settings (gateway): disabled users, who reports to whom, settings versioned per section, and
-- the audit list. See docs/ARCHITECTURE.md, "People, teams and settings".

-- A disabled user keeps their row (their name still labels their deals, the audit log still names them); their
-- tokens are refused from the moment of disabling (the revocation in Redis, dealpulse_common.revocation).
ALTER TABLE users
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- A manager's team is walked down users.manager_id (direct and indirect reports).
CREATE INDEX users_by_manager ON users (tenant_id, manager_id);

-- Each key of tenant_settings.settings (verdict, alert_rules, staleness, stage_mappings...) counts its own edits:
-- a stage-mapping edit must not change the version stamped on verdicts. Sections edited before this migration
-- start from the table's version, so no version stamped so far is ever handed out again.
ALTER TABLE tenant_settings ADD COLUMN section_versions jsonb NOT NULL DEFAULT '{}'::jsonb;
UPDATE tenant_settings SET section_versions = coalesce(
    (SELECT jsonb_object_agg(key, version) FROM jsonb_object_keys(settings) AS key), '{}'::jsonb);

-- GET /v1/admin/audit pages newest first, filtered by action, actor or subject.
CREATE INDEX audit_log_newest ON audit_log (tenant_id, at DESC, audit_id DESC);
