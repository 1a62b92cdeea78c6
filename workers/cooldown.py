"""Host cooldowns shared by every worker: a host that said 429/503 is left alone until its Retry-After passes.

Kept in Redis (`ragfleet:cooldown:<host>`, expiring by itself) when the broker is Redis, so all
workers on all hosts see it; with another broker each process keeps its own.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

from shared.redact import redact_url

KEY_PREFIX = "ragfleet:cooldown:"


class Cooldowns(Protocol):
    """Which hosts are cooling down, and until when."""

    def cool(self, host: str, seconds: float) -> None:
        """Leave `host` alone for `seconds`."""
        ...

    def remaining_s(self, host: str) -> float:
        """Seconds until `host` may be called again (0 when it may be called now)."""
        ...


class RedisCooldowns:
    """Cooldowns every worker sees."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)

    def cool(self, host: str, seconds: float) -> None:
        """Set (or extend) the host's cooldown."""
        ms = max(1, int(seconds * 1000))
        current = self._redis.pttl(_key(host))
        if int(current or 0) < ms:
            self._redis.set(_key(host), "1", px=ms)

    def remaining_s(self, host: str) -> float:
        """Seconds left, from the key's own expiry."""
        ms = int(self._redis.pttl(_key(host)) or 0)
        return max(0.0, ms / 1000)


class LocalCooldowns:
    """Cooldowns of this process only (brokers other than Redis)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def cool(self, host: str, seconds: float) -> None:
        """Set (or extend) the host's cooldown."""
        with self._lock:
            self._until[host] = max(self._until.get(host, 0.0), time.monotonic() + seconds)

    def remaining_s(self, host: str) -> float:
        """Seconds left."""
        with self._lock:
            return max(0.0, self._until.get(host, 0.0) - time.monotonic())


def _key(host: str) -> str:
    return KEY_PREFIX + redact_url(host)  # no endpoint credentials in Redis either


def make_cooldowns(broker_url: str) -> Cooldowns:
    """Shared cooldowns where the broker is Redis, local ones otherwise."""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisCooldowns(broker_url)
    return LocalCooldowns()
