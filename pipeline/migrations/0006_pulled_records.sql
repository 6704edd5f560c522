-- regbridge state database, version 6: HTTP sources. Their records are kept here, one version per
-- record key (a record delivered again replaces its earlier version), with where each pull stands:
-- the incremental cursor of the last complete pass and the checkpoint of an interrupted one.

CREATE TABLE pulled_records (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    fields          TEXT NOT NULL,   -- the record as a JSON object
    problems        TEXT NOT NULL,   -- JSON array of decode problems (positions, never values)
    sha256          TEXT NOT NULL,   -- of `fields`: tells a changed record from a repeated one
    pass            TEXT NOT NULL,   -- the pass that last delivered it
    missed          INTEGER NOT NULL DEFAULT 0, -- complete full passes in a row that did not see it
    first_pulled_at TEXT NOT NULL,
    changed_at      TEXT NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE pull_positions (
    source          TEXT PRIMARY KEY,
    watermark       TEXT,            -- incremental value the next pass asks with
    previous_max    TEXT,            -- highest incremental value the last complete pass saw
    pass            TEXT,            -- the pass in progress, if interrupted
    pass_full       INTEGER NOT NULL DEFAULT 0,
    last_delivered  INTEGER,         -- records the last complete full pass delivered
    checkpoint      TEXT,            -- JSON: where the interrupted pass resumes
    updated_at      TEXT NOT NULL
);

CREATE TABLE pulls (
    run_id          TEXT NOT NULL,
    source          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    ok              INTEGER NOT NULL,
    pages           INTEGER NOT NULL,
    records         INTEGER NOT NULL,
    new_records     INTEGER NOT NULL,
    changed_records INTEGER NOT NULL,
    withdrawn       INTEGER NOT NULL,
    error           TEXT,            -- never a secret: messages name endpoints and settings only
    PRIMARY KEY (run_id, source)
);
CREATE INDEX pulls_by_source ON pulls (source, finished_at);
