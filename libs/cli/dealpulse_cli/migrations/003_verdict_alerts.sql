-- Verdict and alerts: what replays and restarts need to stay exact. No new table (so no new policy): both
-- columns extend tables that 002 already put under forced row-level security.

-- The latest verdict per deal is replaced only by one resting on a score at least as recent, so a verdict
-- re-decided from an older score (a replay after a rebalance) never overwrites a newer one.
ALTER TABLE deal_verdict ADD COLUMN scored_at timestamptz;

-- Alerts are written before they are published and marked once the broker acknowledged them (an outbox): a
-- replay republishes only an alert that never reached the topic, so none is sent twice. Delivery to Slack and
-- e-mail (with quiet hours) will add its own columns beside this one.
ALTER TABLE alerts ADD COLUMN published_at timestamptz;
