-- Onboarding and secrets at rest (gateway: the platform admin's /v1/platform/tenants, a tenant admin's
-- /v1/admin/connectors/{crm}; ingest reads both). See docs/ARCHITECTURE.md, "Tenants and their secrets".

-- 1. Every secret a tenant's CRM proves itself with, sealed (dealpulse_common.secrets_at_rest): the webhook
-- secret ("webhook"), the one it replaced while the rotation overlap lasts ("webhook.previous", valid_until set),
-- and the connectors' own ("salesforce.token", "hubspot.app_secret", "pipedrive.password"). Only Fernet tokens
-- are ever stored here; the keys are in the environment, never in the database.
CREATE TABLE tenant_secrets (
    tenant_id    text NOT NULL REFERENCES tenants(tenant_id),
    name         text NOT NULL,
    sealed       text NOT NULL,
    valid_until  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE tenant_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_secrets USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_secrets TO dealpulse_app;

-- 2. A disabled tenant's webhooks and tokens are refused; its data stays.
ALTER TABLE tenants ADD COLUMN disabled_at timestamptz;

-- 3. The plain-text secret goes: `dealpulse migrate` seals what this column still holds into tenant_secrets (SQL
-- cannot: the key is not the database's) and then drops it (dealpulse_cli/migrate.py, seal_plaintext_secrets).
ALTER TABLE tenants RENAME COLUMN webhook_secret TO webhook_secret_plaintext;
ALTER TABLE tenants ALTER COLUMN webhook_secret_plaintext DROP NOT NULL;

-- 4. The tenant registry is the one table a platform admin reads across tenants (listing them, re-encrypting
-- every secret): a transaction that set app.scope = 'platform' sees every tenants row, read only. Every other
-- table, tenant_secrets included, still admits only the tenant of app.tenant_id.
CREATE POLICY platform_registry ON tenants FOR SELECT USING (current_setting('app.scope', true) = 'platform');
