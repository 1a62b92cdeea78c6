-- ragfleet schema v1. Plain names: operators query these tables with psql.
-- Natural keys (UNIQUE constraints) make every write an idempotent upsert.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE repos (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    root        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz
);

-- content_hash: the version the producer last published; chunked_hash: the
-- version whose spans are stored. The sync planner compares the walk with
-- chunked_hash, so a file whose chunking never finished is published again.
CREATE TABLE files (
    id             bigserial PRIMARY KEY,
    repo_id        bigint NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    repo           text NOT NULL,
    path           text NOT NULL,
    content_hash   text NOT NULL,
    chunked_hash   text,
    size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
    language       text NOT NULL,
    status         text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'chunked', 'failed')),
    error          text,
    chunk_fallback text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repo_id, path)
);

CREATE TABLE spans (
    id             bigserial PRIMARY KEY,
    file_id        bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    repo           text NOT NULL,
    path           text NOT NULL,
    language       text NOT NULL,
    kind           text NOT NULL,
    name           text NOT NULL,
    start_line     integer NOT NULL CHECK (start_line >= 1),
    end_line       integer NOT NULL CHECK (end_line >= start_line),
    content        text NOT NULL,
    content_hash   text NOT NULL,
    lines          integer NOT NULL,
    nesting_depth  integer NOT NULL,
    branches       integer NOT NULL,
    parameters     integer NOT NULL,
    nested_defs    integer NOT NULL,
    token_estimate integer NOT NULL,
    start_tier     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (file_id, kind, name, start_line, end_line)
);
CREATE INDEX spans_content_hash_idx ON spans (content_hash);
CREATE INDEX spans_repo_path_idx ON spans (repo, path);

-- Content-addressed: one enrichment per (span content, prompt version, model),
-- shared by every repo and branch that holds the same code.
CREATE TABLE enrichments (
    id                bigserial PRIMARY KEY,
    content_hash      text NOT NULL,
    prompt_version    text NOT NULL,
    model             text NOT NULL,
    tier              text NOT NULL,
    host              text NOT NULL DEFAULT '',
    summary           text NOT NULL,
    body              jsonb NOT NULL,
    facts             jsonb,
    tokens_in         integer NOT NULL DEFAULT 0,
    tokens_out        integer NOT NULL DEFAULT 0,
    duration_ms       integer NOT NULL DEFAULT 0,
    gpu_vram_peak_mib integer,
    cost_usd          numeric(14, 6) NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (content_hash, prompt_version, model)
);

-- One vector per (span content, embedding model). text_hash identifies the
-- exact text embedded (code plus enrichment), so a better enrichment re-embeds.
CREATE TABLE embeddings (
    id             bigserial PRIMARY KEY,
    content_hash   text NOT NULL,
    model          text NOT NULL,
    dim            integer NOT NULL,
    prompt_version text NOT NULL,
    text_hash      text NOT NULL,
    embedding      vector(384) NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (content_hash, model)
);
CREATE INDEX embeddings_hnsw_idx ON embeddings USING hnsw (embedding vector_cosine_ops);

-- Every failed or successful try that an operator may want to see.
CREATE TABLE attempts (
    id            bigserial PRIMARY KEY,
    stage         text NOT NULL,
    key           text NOT NULL,
    tier          text NOT NULL DEFAULT '',
    host          text NOT NULL DEFAULT '',
    ok            boolean NOT NULL,
    error_class   text NOT NULL DEFAULT '',
    message       text NOT NULL DEFAULT '',
    duration_ms   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_key_idx ON attempts (stage, key);

-- A message that no tier, host or retry could handle, with what is needed to
-- publish it again (`ragfleet requeue-dead`).
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    stage       text NOT NULL,
    key         text NOT NULL,
    task_name   text NOT NULL,
    queue       text NOT NULL,
    repo        text,
    path        text,
    error_class text NOT NULL,
    reason      text NOT NULL,
    payload     jsonb NOT NULL,
    history     jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stage, key)
);

-- ragfleet's own redelivery counter, keyed by Celery task id: a message seen
-- more than broker.max_redeliveries times is dead-lettered, not run again.
CREATE TABLE deliveries (
    task_id    text PRIMARY KEY,
    count      integer NOT NULL,
    first_at   timestamptz NOT NULL DEFAULT now()
);
