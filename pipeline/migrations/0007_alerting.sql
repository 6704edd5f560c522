-- regbridge state database, version 7: alerts that data officers act on. Each finding remembers
-- its latest sighting (the finding as JSON: rule, record reference, field, detail; never a value)
-- and which digests told about it: when it was first announced, last reminded, and announced
-- resolved. A digest in the outbox lists the findings it tells about (alert_items); they count as
-- told only once the mail server accepted the digest. Delivery keeps its own schedule: the next
-- attempt after a temporary failure, a permanent failure, and a mark set just before sending.

ALTER TABLE findings ADD COLUMN finding TEXT;
ALTER TABLE findings ADD COLUMN announced_at TEXT;
ALTER TABLE findings ADD COLUMN reminded_at TEXT;
ALTER TABLE findings ADD COLUMN resolution_announced_at TEXT;

CREATE TABLE alert_items (
    run_id      TEXT NOT NULL,
    institution TEXT NOT NULL,               -- the outbox key: an institution, committee, it:<source>
    finding_key TEXT NOT NULL,
    kind        TEXT NOT NULL,               -- new | reminder | resolved
    PRIMARY KEY (run_id, institution, finding_key)
);

ALTER TABLE alert_outbox ADD COLUMN next_attempt_at TEXT;
ALTER TABLE alert_outbox ADD COLUMN failed_at TEXT;
ALTER TABLE alert_outbox ADD COLUMN sending_at TEXT;

-- Before this version every digest listed every open finding: what a delivered digest already
-- listed counts as told, so the first digest after the upgrade does not call it new.
UPDATE findings
SET announced_at = (SELECT MAX(sent_at) FROM alert_outbox o WHERE o.institution = findings.institution),
    reminded_at  = (SELECT MAX(sent_at) FROM alert_outbox o WHERE o.institution = findings.institution)
WHERE resolved_at IS NULL
  AND first_seen_at <= (SELECT MAX(sent_at) FROM alert_outbox o WHERE o.institution = findings.institution);
