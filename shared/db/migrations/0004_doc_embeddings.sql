-- ragfleet schema v4: documents replayed from msgpack backlogs (`ragfleet enqueue msgpack`).
--
-- One row per document content hash (metadata.content_hash, or sha256 of the text): the
-- table holds one vector space (vector(384), the fleet's embedding model), so a document
-- has one current vector; `model` says which model made it, and `--reembed` replaces it.
-- A placeholder row (`--dummy-fill`) holds a zero vector so the document exists before a
-- model is ready; it is never searched (a zero vector has no cosine distance) and a later
-- replay without --dummy-fill, or with --reembed, fills it in.
-- No HNSW index here: backfills come first, the index is built after them (DESIGN.md).
CREATE TABLE doc_embeddings (
    id             bigserial PRIMARY KEY,
    content_hash   text NOT NULL UNIQUE,
    model          text NOT NULL,
    dim            integer NOT NULL CHECK (dim > 0),
    prompt_version text NOT NULL DEFAULT '',
    text           text NOT NULL,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    source         text NOT NULL DEFAULT '',
    batch_tag      text NOT NULL DEFAULT '',
    embedding      vector(384) NOT NULL,
    is_placeholder boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX doc_embeddings_source_idx ON doc_embeddings (source, batch_tag);
