-- regbridge state database, version 8: child_ids kept as one B-tree. It had a rowid table, the
-- primary key's index beside it, and an index by child_id that no query uses: three trees written
-- for every record of every run (a million records' identifiers took 4 s to write and 1.4 s to
-- commit). Rows, keys and meaning are unchanged.
CREATE TABLE child_ids_compact (
    source    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    child_id  TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    PRIMARY KEY (source, record_id)
) WITHOUT ROWID;
INSERT INTO child_ids_compact (source, record_id, child_id, run_id)
    SELECT source, record_id, child_id, run_id FROM child_ids ORDER BY source, record_id;
DROP TABLE child_ids;
ALTER TABLE child_ids_compact RENAME TO child_ids;
