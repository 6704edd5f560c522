-- regbridge state database, version 4: the alert outbox. Every digest a run builds is queued here;
-- it is sent at once by a manual run, or by the daemon's `digests` job when one is scheduled. A newer
-- digest for an institution supersedes an older one not yet sent. Digests carry no names, personal
-- numbers or dates of birth.

CREATE TABLE alert_outbox (
    run_id      TEXT NOT NULL,
    institution TEXT NOT NULL,
    mail        TEXT NOT NULL,               -- JSON: from, to, subject, text, html, message_id, headers
    created_at  TEXT NOT NULL,
    superseded  INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     TEXT,
    last_error  TEXT,
    PRIMARY KEY (run_id, institution)
);
CREATE INDEX alert_outbox_pending ON alert_outbox (institution) WHERE sent_at IS NULL AND superseded = 0;
