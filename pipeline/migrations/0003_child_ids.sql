-- regbridge state database, version 3: child identifiers that survive runs (until now in
-- child_ids.csv, which the first run imports) and their history of merges and splits.

-- The child_id each record had when last seen. Records not seen in a run keep their row, so a record
-- that comes back later gets its child back.
CREATE TABLE child_ids (
    source    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    child_id  TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    PRIMARY KEY (source, record_id)
);
CREATE INDEX child_ids_by_child ON child_ids (child_id);

-- What a run did to identifiers: a child that absorbed others (merged) or one that was split.
CREATE TABLE child_id_changes (
    run_id   TEXT NOT NULL,
    change   TEXT NOT NULL CHECK (change IN ('merged', 'split')),
    child_id TEXT NOT NULL,
    others   TEXT NOT NULL,          -- JSON array of the other identifiers involved
    PRIMARY KEY (run_id, change, child_id)
);
