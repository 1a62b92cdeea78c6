-- HNSW indexes that a backfill dropped to load faster (shared.db.hnsw), with the definitions to
-- rebuild them from. A row lives only while its index is missing: if the process that dropped it
-- dies before rebuilding it, the next backfill or `ragfleet db-migrate` / `up` rebuilds it.

CREATE TABLE dropped_indexes (
    index_name text PRIMARY KEY,
    table_name text NOT NULL,
    definition text NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);
