"""Flower and the Prometheus exporter, over real HTTP against the session's fleet."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from shared.names import ALL_QUEUES
from shared.settings import Settings
from tests.integration.conftest import RAGFLEET, ragfleet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(args: list[str], env: dict[str, str], url: str, timeout_s: float = 60) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [RAGFLEET, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s}s"
                time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_flower_refuses_to_start_without_auth(fleet_settings: Settings) -> None:
    result = ragfleet("flower", env={"RAGFLEET_FLOWER__USER": "", "RAGFLEET_FLOWER__PASSWORD": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: Flower needs basic auth: set RAGFLEET_FLOWER__USER")


def test_flower_serves_the_fleet_behind_basic_auth(fleet_settings: Settings) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"RAGFLEET_FLOWER__USER": "ops", "RAGFLEET_FLOWER__PASSWORD": "flower-pw-never-in-argv"}
    with _serving(["flower", "--port", str(port)], env, f"{base}/healthcheck") as proc:
        assert httpx.get(f"{base}/workers", timeout=10).status_code == 401
        assert httpx.get(f"{base}/workers", auth=("ops", "wrong"), timeout=10).status_code == 401
        deadline = time.monotonic() + 30
        while True:  # Flower learns of the workers from their events and an inspect round
            workers = httpx.get(f"{base}/api/workers", auth=("ops", "flower-pw-never-in-argv"), timeout=10)
            assert workers.status_code == 200
            if {"chunk", "embed"} <= {name.split("@")[0] for name in workers.json()}:
                break
            assert time.monotonic() < deadline, workers.text
            time.sleep(1)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert "flower-pw-never-in-argv" not in cmdline and "--max_tasks=10000" in cmdline


def test_metrics_export_queue_depths_and_tier_counters(fleet_settings: Settings) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with _serving(["metrics", "--port", str(port)], {}, url):
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(url, timeout=30).text)}
    with psycopg.connect(fleet_settings.require_database_url()) as conn:
        stored: dict[str, int] = dict(conn.execute("SELECT tier, count(*) FROM enrichments GROUP BY tier").fetchall())
    assert {s.labels["part"]: s.value for s in families["ragfleet_scrape_ok"].samples} == {"broker": 1, "database": 1}
    assert {s.labels["queue"] for s in families["ragfleet_queue_messages_waiting"].samples} == set(ALL_QUEUES)
    assert {s.labels["queue"] for s in families["ragfleet_queue_messages_unacked"].samples} == set(ALL_QUEUES)
    counted = {s.labels["tier"]: s.value for s in families["ragfleet_enrichments"].samples if s.name.endswith("_total")}
    assert counted == stored
    histogram = [s for s in families["ragfleet_enrich_duration_seconds"].samples if s.name.endswith("_count")]
    assert {s.labels["tier"]: s.value for s in histogram} == stored
