-- regbridge state database, version 5: inputs are per source. Two institutions may send files with
-- the same bytes (an empty "nothing this month" export); each is that source's delivery.

CREATE TABLE inputs_per_source (
    source        TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    first_file    TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    records       INTEGER NOT NULL,
    first_run     TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_run      TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    PRIMARY KEY (source, sha256)
);
INSERT INTO inputs_per_source
    SELECT source, sha256, first_file, bytes, records, first_run, first_seen_at, last_run, last_seen_at
    FROM inputs;
DROP TABLE inputs;
ALTER TABLE inputs_per_source RENAME TO inputs;
CREATE INDEX inputs_by_source ON inputs (source, first_seen_at);
