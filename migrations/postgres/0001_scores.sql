-- The score store's tables, as the SQLite engine has them (src/store/sqlite.rs), for
-- replicas that share one database. Applied once, in order, under an advisory lock, by
-- the first server that connects (src/store/postgres.rs); recorded in schema_migrations.

CREATE TABLE scores (
    -- Byte order, as SQLite compares: list_scores pages the same on both engines.
    id            TEXT COLLATE "C" PRIMARY KEY,
    format        TEXT NOT NULL,
    origin        TEXT NOT NULL,
    source        BYTEA NOT NULL,
    source_sha256 TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    summary       TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    use_seq       BIGINT NOT NULL,
    info          TEXT,
    info_sha256   TEXT
);
-- Least recently used first, for eviction.
CREATE INDEX scores_lru ON scores (use_seq);

-- A use counter shared by every replica: timestamps have one-second resolution, and LRU
-- order must not depend on the replicas' clocks.
CREATE SEQUENCE score_use_seq;

CREATE TABLE evictions (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL,
    evicted_at BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    bytes      BIGINT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE corrupt_records (
    id       TEXT PRIMARY KEY,
    found_at BIGINT NOT NULL,
    detail   TEXT NOT NULL
);
