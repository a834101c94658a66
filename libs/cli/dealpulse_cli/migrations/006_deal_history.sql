-- A deal's history is one fold over its changes (dealpulse_common.history), the same for serving and training:
-- ingest keeps the fold's state beside the snapshot, and every applied change's canonical fields in deal_events so
-- `dealpulse export-training` can replay a deal into point-in-time training rows.

ALTER TABLE deals ADD COLUMN history_state jsonb NOT NULL DEFAULT '{}'::jsonb;

-- The counts kept so far were watched from the row's first change: they carry over as observed, not CRM-sent.
UPDATE deals SET history_state = jsonb_build_object(
    'first_seen_at', created_at,
    'stage_entered_at', stage_entered_at,
    'close_date_pushes', jsonb_build_array(NULL, close_date_push_count),
    'amount_changes', jsonb_build_array(NULL, amount_change_count),
    'activity_at', to_jsonb(activity_at));

ALTER TABLE deals DROP COLUMN stage_entered_at, DROP COLUMN close_date_push_count,
                  DROP COLUMN amount_change_count, DROP COLUMN activity_at;

-- NULL for deliveries recorded before this migration: export-training cannot replay those deals.
ALTER TABLE deal_events ADD COLUMN changes jsonb;
-- The order changes were applied in (several share one CRM millisecond, and a file import one received_at).
ALTER TABLE deal_events ADD COLUMN applied_seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX deal_events_replay ON deal_events (tenant_id, deal_id, applied_seq);
