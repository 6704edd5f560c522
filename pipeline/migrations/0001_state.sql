-- regbridge state database, version 1: runs, ingested inputs, and the lifecycle of findings.
-- Applied once by `state.rs` (PRAGMA user_version records the version). Never edit a released
-- migration; add the next one.

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,               -- run (more kinds come with the daemon)
    started_at  TEXT NOT NULL,               -- RFC 3339, UTC
    finished_at TEXT,
    outcome     TEXT NOT NULL,               -- running | ok | failed
    summary     TEXT,                        -- the run's JSON summary: counts only, no personal data
    error       TEXT
);

-- Every distinct input content ever read (a file today; HTTP pages later), by sha256. The bytes
-- are in the content-addressed archive beside the database (archive/<2 hex>/<sha256>).
CREATE TABLE inputs (
    sha256        TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    first_file    TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    records       INTEGER NOT NULL,
    first_run     TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_run      TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX inputs_by_source ON inputs (source, first_seen_at);

-- A finding is the same finding from run to run when its key is (a record's source and id, rule,
-- field) or, for findings about a file, (source, file, location, rule, field). It is resolved when a
-- run no longer raises it for a source that delivered data.
CREATE TABLE findings (
    key            TEXT PRIMARY KEY,
    institution    TEXT NOT NULL,
    source         TEXT NOT NULL,
    rule           TEXT NOT NULL,
    severity       TEXT NOT NULL,
    record_id      TEXT,
    field          TEXT,
    first_run      TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    last_run       TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    resolved_run   TEXT,
    resolved_at    TEXT
);
CREATE INDEX findings_open ON findings (institution) WHERE resolved_at IS NULL;
