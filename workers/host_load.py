"""Which host of a tier to call first: the one this process has the fewest requests in flight to.

Hashing a span to a host spreads load only on average: with 2 hosts × 4 slots, one host queues
requests while the other idles (measured: 0.81 slot utilisation). Counting this process's own
in-flight requests per host and starting at the least loaded one keeps every host's slots busy. The
span's hash still breaks ties, so retries of one span start at the same host. Worker processes do
not share these counts; each balances its own threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class HostLoad:
    """Requests in flight per host, for this process."""

    def __init__(self) -> None:
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def least_loaded_first(self, hosts: list[str]) -> list[str]:
        """`hosts` reordered by load (stable: equal loads keep their order)."""
        with self._lock:
            return sorted(hosts, key=lambda h: self._in_flight[h])

    @contextmanager
    def calling(self, host: str) -> Iterator[None]:
        """Count one request to `host` while it runs."""
        with self._lock:
            self._in_flight[host] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[host] -= 1
