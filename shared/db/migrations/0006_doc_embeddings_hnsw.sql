-- ragfleet schema v6: the HNSW index (cosine) on documents, as on span embeddings.
--
-- A large replay (`ragfleet enqueue msgpack`) drops it once it has written
-- embedding.rebuild_index_rows rows and rebuilds it when the replay set is done
-- (shared/db/hnsw.py), so a backfill never pays the per-row graph update. Placeholder
-- rows (zero vectors) are left out: they have no cosine distance to anything.
CREATE INDEX doc_embeddings_hnsw_idx ON doc_embeddings USING hnsw (embedding vector_cosine_ops)
    WHERE NOT is_placeholder;
