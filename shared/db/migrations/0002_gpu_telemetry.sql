-- ragfleet schema v2: GPU telemetry history and workers' pause/resume events.
-- Units and names follow NVIDIA's DCGM exporter (framebuffer in MiB, power in W,
-- energy in mJ), so these columns line up with the Prometheus gauges.

-- One row per sample of one GPU (or MIG instance) by a GPU-pinned worker, every
-- telemetry.interval_s; pruned after telemetry.history_days. The latest sample per
-- GPU is in Redis, so this table only serves history (graphs, "what was hot when").
-- NULL means the driver does not expose that reading on this board, never 0.
CREATE TABLE gpu_samples (
    id                bigserial PRIMARY KEY,
    host              text NOT NULL,
    gpu_uuid          text NOT NULL,
    gpu_index         integer NOT NULL,
    name              text NOT NULL,
    sampled_at        timestamptz NOT NULL,
    fb_used_mib       integer,
    fb_free_mib       integer,
    fb_total_mib      integer,
    gpu_util_pct      smallint,
    mem_copy_util_pct smallint,
    gpu_temp_c        smallint,
    memory_temp_c     smallint,
    power_w           real,
    -- Counters since the driver loaded: a rate is a difference between two rows.
    energy_mj         bigint,
    -- NVML's clocks-event (throttle) reasons bitmask; 0 means the clocks run free.
    throttle_reasons  bigint,
    -- VRAM of the sampling worker's own processes (0 for an HTTP-bound LLM worker).
    process_vram_mib  integer
);
-- History of one GPU over time.
CREATE INDEX gpu_samples_gpu_time_idx ON gpu_samples (gpu_uuid, sampled_at);
-- The prune deletes by age across every GPU.
CREATE INDEX gpu_samples_time_idx ON gpu_samples (sampled_at);

-- Back-pressure: a worker stops taking tasks from a queue (pause) when VRAM or
-- temperature passes a threshold and takes them again (resume) below a lower one.
-- `ragfleet status` shows the latest events; a worker is paused when its latest
-- event for a queue is a pause.
CREATE TABLE worker_events (
    id      bigserial PRIMARY KEY,
    worker  text NOT NULL,
    queue   text NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('pause', 'resume')),
    reason  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
-- Newest first for status, and the latest event of one worker's queue.
CREATE INDEX worker_events_at_idx ON worker_events (at);
CREATE INDEX worker_events_worker_idx ON worker_events (worker, queue, at);
