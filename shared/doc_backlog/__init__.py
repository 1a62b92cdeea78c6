"""Document backlogs: the msgpack batch format that `ragfleet enqueue msgpack` replays and `export --msgpack` writes."""
