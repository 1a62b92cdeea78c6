-- Consumers that `ragfleet drain` stopped, so `ragfleet resume` (on any host, at any later time)
-- knows which workers to restart. One row per (queue, worker); a second drain changes nothing,
-- so paused_at stays the time the consumer was first stopped.

CREATE TABLE paused_consumers (
    queue     text NOT NULL,
    worker    text NOT NULL,
    paused_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, worker)
);
