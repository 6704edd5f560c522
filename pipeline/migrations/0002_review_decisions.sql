-- regbridge state database, version 2: clerical review decisions (until now in
-- review_decisions.csv, which the first writer imports). A pair is stored with its smaller record
-- first, so a decision on (a, b) and one on (b, a) are the same row; the latest wins.

CREATE TABLE review_decisions (
    source_a   TEXT NOT NULL,
    record_a   TEXT NOT NULL,
    source_b   TEXT NOT NULL,
    record_b   TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('same', 'different')),
    decided_at TEXT NOT NULL,
    PRIMARY KEY (source_a, record_a, source_b, record_b)
);
