"""GPU-pinned workers on a fake pool of two GPUs: real `ragfleet worker --gpu` processes, the session's Redis,
Postgres and Celery, and `tests.fake_nvml_pool` where `pynvml` would be (RAGFLEET_TELEMETRY__NVML_MODULE).

The pool's state is a JSON file (FAKE_NVML_STATE) that the workers' NVML re-reads on every call, so a test
fills a GPU's memory and the worker sees it on its next sample. Everything started here is stopped here, and
the rows and keys it wrote are deleted: the session fleet is left as it was found.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery

from ops.drain import resume, stop_latecomers
from ops.metrics import FleetCollector
from shared.celery_config import make_celery
from shared.db import connect
from shared.db.consumers import forget_paused, paused_workers, record_paused
from shared.messages import Complexity, EmbedMessage, SpanMessage
from shared.settings import Settings, TierSettings, TiersSettings
from tests.fake_llm import FakeLLMServer
from tests.fake_nvml import MIB, FakeNvml
from tests.fake_nvml_pool import STATE_ENV, new_pool, write_state
from tests.integration.conftest import RAGFLEET, ragfleet
from workers.context import WorkerContext
from workers.enrich import enrich_span
from workers.gpu.nvml import open_nvml
from workers.gpu.telemetry import TelemetrySampler, nvml_reader

ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()
UUIDS = [f"GPU-fa4e0000-0000-4000-8000-00000000000{i}" for i in range(2)]
TOTAL_MIB = 81920
IDLE_MIB = 4096
FULL_MIB = 80400  # with the driver's 256 MiB reserved: 98.5 % used, above the 97 % pause threshold
PAIR = [f"7b-gpu{i}@{HOST}" for i in range(2)]
ALL_14B = [f"14b-gpu{i}@{HOST}" for i in range(2)]


@dataclass
class Pool:
    """The fake GPUs and the environment that makes `ragfleet worker` use them."""

    state: Path
    env: dict[str, str]
    logs: Path
    gpus: list[dict[str, Any]]

    def set(self, index: int, **values: Any) -> None:
        self.gpus[index].update(values)
        write_state(self.state, self.gpus)


@pytest.fixture(scope="module")
def pool(fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    tmp = tmp_path_factory.mktemp("gpu-pool")
    gpus = new_pool(len(UUIDS))
    assert [g["uuid"] for g in gpus] == UUIDS and gpus[0]["memory_total_mib"] == TOTAL_MIB
    assert gpus[0]["memory_used_mib"] == IDLE_MIB
    state = tmp / "nvml.json"
    write_state(state, gpus)
    _forget(fleet_settings)  # rows or keys a crashed earlier run left in servers of your own
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "RAGFLEET_TELEMETRY__NVML_MODULE": "tests.fake_nvml_pool",
        STATE_ENV: str(state),
        "RAGFLEET_TELEMETRY__INTERVAL_S": "0.3",
        "RAGFLEET_TELEMETRY__REDIS_TTL_S": "20",
        "PYTHONUNBUFFERED": "1",
    }
    yield Pool(state, env, tmp, gpus)
    _forget(fleet_settings)


def _forget(settings: Settings) -> None:
    """Delete the fake GPUs' Redis keys and history, and the pool's workers' events."""
    client = redis.Redis.from_url(settings.require_broker_url())
    for uuid in UUIDS:
        client.delete(f"ragfleet:gpu:{HOST}:{uuid}")
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute("DELETE FROM gpu_samples WHERE gpu_uuid = ANY(%s)", (UUIDS,))
        conn.execute("DELETE FROM worker_events WHERE worker = ANY(%s)", (PAIR + ALL_14B,))


@pytest.fixture(scope="module")
def app(fleet_settings: Settings) -> Celery:
    return make_celery(fleet_settings)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(model="fake-7b", slots=1).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(pool: Pool, app: Celery, llm: FakeLLMServer) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    """`ragfleet worker --queues enrich.7b` on GPU 0 (by index, bound to the model server "on" it) and on
    GPU 1 (by UUID)."""
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        procs[0] = _start(pool, "gpu0", "--queues", "enrich.7b", "--gpu", "0", "--endpoint", llm.url,
                          env={"RAGFLEET_TIERS__7B__MODEL": "fake-7b"})  # fmt: skip
        procs[1] = _start(pool, "gpu1", "--queues", "enrich.7b", "--gpu", UUIDS[1])
        _until(lambda: set(PAIR) == _pong(app, PAIR), 90, f"{PAIR} answering ping", pool)
        yield procs
    finally:
        _stop(procs.values())


def test_gpu_without_nvml_is_a_clear_error(pool: Pool) -> None:
    env = {**pool.env, "RAGFLEET_TELEMETRY__NVML_MODULE": "nonexistent_module"}
    result = subprocess.run(
        [RAGFLEET, "worker", "--queues", "enrich.7b", "--gpu", "0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --gpu 0: gpu: none (") and "nonexistent_module" in line, line


def test_all_without_nvml_says_gpu_none(pool: Pool) -> None:
    result = ragfleet("worker", "--queues", "enrich.7b", "--all", env={"RAGFLEET_TELEMETRY__NVML_MODULE": "no_nvml"})
    assert result.returncode == 2 and "gpu: none" in result.stdout
    assert result.stderr.startswith("error: --all: gpu: none (")


def test_endpoint_must_be_a_url_of_an_llm_tier(pool: Pool) -> None:
    bad = ragfleet("worker", "--queues", "enrich.7b", "--endpoint", "gpu1:11434")
    assert bad.returncode == 1 and bad.stderr.startswith("error: --endpoint: endpoint 'gpu1:11434' is not"), bad.stderr
    chunk = ragfleet("worker", "--queues", "chunk", "--endpoint", "http://gpu1:11434")
    assert chunk.returncode == 1 and "no LLM tier's queue" in chunk.stderr


def test_workers_are_named_after_tier_gpu_and_host_and_pinned_by_uuid(
    pair: dict[int, subprocess.Popen[bytes]], app: Celery, llm: FakeLLMServer
) -> None:
    assert set(PAIR) == _pong(app, PAIR)
    assert _environ(pair[0].pid)["RAGFLEET_TIERS__7B__ENDPOINTS"] == llm.url  # --endpoint, through settings
    assert "RAGFLEET_TIERS__7B__ENDPOINTS" not in _environ(pair[1].pid)
    for index, proc in pair.items():
        # The launcher execs the worker: the pid is the Celery worker's, its environment the pinned one.
        environ = _environ(proc.pid)
        assert environ["CUDA_VISIBLE_DEVICES"] == UUIDS[index]
        assert environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert environ["RAGFLEET_WORKER_GPU"] == UUIDS[index]
        assert "celery" in Path(f"/proc/{proc.pid}/cmdline").read_text()


def test_latest_samples_in_redis_with_a_ttl_and_history_in_postgres(
    pair: dict[int, subprocess.Popen[bytes]], pool: Pool, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    client = redis.Redis.from_url(fleet_settings.require_broker_url())
    for index, uuid in enumerate(UUIDS):
        key = f"ragfleet:gpu:{HOST}:{uuid}"
        _until(partial(_in_redis, client, key), 20, f"{key} in Redis", pool)
        sample = json.loads(client.get(key) or b"{}")
        assert 0 < int(client.ttl(key)) <= 20
        assert (sample["gpu_index"], sample["gpu_uuid"], sample["name"]) == (index, uuid, f"NVIDIA Fake H100 {index}")
        assert (sample["host"], sample["worker"]) == (HOST, PAIR[index])
        assert (sample["fb_used_mib"], sample["fb_total_mib"]) == (IDLE_MIB, TOTAL_MIB)
        assert (sample["gpu_temp_c"], sample["power_w"]) == (41 + index, 150.0 + index)
        _until(partial(_sampled_twice, db, uuid), 20, f"gpu_samples rows of {uuid}", pool)
        assert _history(db, uuid)[1] == IDLE_MIB


def test_metrics_export_dcgm_gauges_per_gpu(
    pair: dict[int, subprocess.Popen[bytes]], fleet_settings: Settings, app: Celery
) -> None:
    metrics = {m.name: m for m in FleetCollector(fleet_settings, app).collect()}
    used = {s.labels["UUID"]: s for s in metrics["DCGM_FI_DEV_FB_USED"].samples if s.labels["UUID"] in UUIDS}
    assert {uuid: s.value for uuid, s in used.items()} == {uuid: IDLE_MIB for uuid in UUIDS}
    assert used[UUIDS[1]].labels == {"gpu": "1", "UUID": UUIDS[1], "Hostname": HOST, "modelName": "NVIDIA Fake H100 1"}
    power = {s.labels["UUID"]: s.value for s in metrics["DCGM_FI_DEV_POWER_USAGE"].samples}
    assert power[UUIDS[0]] == 150.0
    assert {s.labels["part"]: s.value for s in metrics["ragfleet_scrape_ok"].samples} == {"broker": 1, "database": 1}


def test_a_full_gpu_pauses_its_worker_until_vram_falls(
    pair: dict[int, subprocess.Popen[bytes]], pool: Pool, app: Celery, db: psycopg.Connection
) -> None:
    pool.set(1, memory_used_mib=FULL_MIB)
    _until(lambda: _consumes(app, PAIR[1]) is False, 30, f"{PAIR[1]} stopping enrich.7b", pool)
    assert _consumes(app, PAIR[0]) is True  # the other GPU's worker goes on
    assert _events(db, PAIR[1]) == [("pause", "enrich.7b")]
    [reason] = [r for (r,) in db.execute("SELECT reason FROM worker_events WHERE worker = %s", (PAIR[1],))]
    assert reason.startswith("VRAM 98.") and ">= 97%" in reason

    result = ragfleet("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    gpus = status["gpus"]
    workers = status["workers"]
    assert workers[PAIR[1]]["gpu"] == {"index": 1, "uuid": UUIDS[1]} and workers[PAIR[1]]["tiers"] == ["7b"]
    assert workers[PAIR[1]]["paused"] == {"enrich.7b": "gpu"} and workers[PAIR[1]]["queues"] == []
    assert workers[PAIR[0]]["paused"] == {} and workers[PAIR[0]]["queues"] == ["enrich.7b"]
    assert workers[PAIR[0]]["pool"] == "threads" and workers[PAIR[0]]["host"] == HOST
    assert gpus["source"] == "redis"
    latest = {g["gpu_uuid"]: g for g in gpus["latest"] if g["gpu_uuid"] in UUIDS}
    assert set(latest) == set(UUIDS)
    assert latest[UUIDS[1]]["fb_used_mib"] == FULL_MIB and latest[UUIDS[1]]["vram_used_pct"] >= 97
    assert latest[UUIDS[0]]["worker"] == PAIR[0] and latest[UUIDS[0]]["throttle"] == []
    states = {(b["worker"], b["queue"]): b for b in gpus["back_pressure"]}
    assert states[(PAIR[1], "enrich.7b")]["state"] == "paused" and states[(PAIR[1], "enrich.7b")]["paused"] is True
    assert any(e["worker"] == PAIR[1] and e["kind"] == "pause" for e in gpus["events"])

    pool.set(1, memory_used_mib=IDLE_MIB)
    _until(lambda: _consumes(app, PAIR[1]) is True, 30, f"{PAIR[1]} consuming enrich.7b again", pool)
    assert _events(db, PAIR[1]) == [("pause", "enrich.7b"), ("resume", "enrich.7b")]
    text = ragfleet("status", env={"COLUMNS": "200"})
    assert text.returncode == 0 and UUIDS[1] in text.stdout and "back-pressure" in text.stdout


def test_a_cooled_gpu_leaves_a_drained_queue_stopped_until_resume(
    pair: dict[int, subprocess.Popen[bytes]], pool: Pool, app: Celery, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    before = len(_events(db, PAIR[1]))
    pool.set(1, memory_used_mib=FULL_MIB)
    _until(lambda: _consumes(app, PAIR[1]) is False, 30, f"{PAIR[1]} stopping enrich.7b", pool)
    elsewhere = f"drained-elsewhere@{HOST}"
    with connect(fleet_settings.require_database_url(), autocommit=True) as conn:
        record_paused(conn, "enrich.7b", [elsewhere])  # meanwhile, an operator's `ragfleet drain enrich.7b`
    try:
        pool.set(1, memory_used_mib=IDLE_MIB)
        _until(lambda: len(_events(db, PAIR[1])) == before + 2, 30, f"{PAIR[1]}'s resume event", pool)
        assert _consumes(app, PAIR[1]) is False  # the GPU cooled, but the queue stays drained
        kind, reason = db.execute(
            "SELECT kind, reason FROM worker_events WHERE worker = %s ORDER BY id DESC LIMIT 1", (PAIR[1],)
        ).fetchone() or ("", "")
        assert kind == "resume" and reason.endswith("; the queue stays stopped: an operator drained it")
        with connect(fleet_settings.require_database_url()) as conn:
            assert paused_workers(conn, "enrich.7b") == sorted([PAIR[1], elsewhere])  # so `resume` restarts it
        report = resume(fleet_settings, app, "enrich.7b")
        assert report.resumed == (PAIR[1],) and report.unreachable == (elsewhere,)
        assert _consumes(app, PAIR[1]) is True
    finally:
        with connect(fleet_settings.require_database_url(), autocommit=True) as conn:
            forget_paused(conn, "enrich.7b", [PAIR[1], elsewhere])
        app.control.add_consumer("enrich.7b", destination=[PAIR[1]])


def test_resume_leaves_a_hot_gpu_to_its_back_pressure(
    pair: dict[int, subprocess.Popen[bytes]], pool: Pool, app: Celery, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    before = len(_events(db, PAIR[1]))
    with connect(fleet_settings.require_database_url(), autocommit=True) as conn:
        record_paused(conn, "enrich.7b", [PAIR[1]])  # `ragfleet drain enrich.7b` stopped it ...
    app.control.cancel_consumer("enrich.7b", destination=[PAIR[1]], reply=True, timeout=3.0)
    try:
        pool.set(1, gpu_temp=92)  # ... and then its GPU ran hot
        _until(lambda: len(_events(db, PAIR[1])) == before + 1, 30, f"{PAIR[1]}'s pause event", pool)
        result = ragfleet("resume", "enrich.7b")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"left to back-pressure (GPU still too full or too hot; they resume when it recovers): {PAIR[1]}" in (
            result.stdout
        )
        assert _consumes(app, PAIR[1]) is False  # the operator's resume did not overload the hot GPU
        with connect(fleet_settings.require_database_url()) as conn:
            assert paused_workers(conn, "enrich.7b") == []
        pool.set(1, gpu_temp=60)
        _until(lambda: _consumes(app, PAIR[1]) is True, 30, f"{PAIR[1]} consuming again once cool", pool)
    finally:
        pool.set(1, gpu_temp=42)
        with connect(fleet_settings.require_database_url(), autocommit=True) as conn:
            forget_paused(conn, "enrich.7b", [PAIR[1]])
        app.control.add_consumer("enrich.7b", destination=[PAIR[1]])


def test_a_drain_stops_and_records_whoever_consumes_the_queue_by_now(
    pair: dict[int, subprocess.Popen[bytes]], app: Celery, fleet_settings: Settings
) -> None:
    try:  # what a drain runs on each poll, so a consumer that appears while it waits is stopped too
        stopped = stop_latecomers(fleet_settings, app, "enrich.7b", control_timeout_s=2.0)
        assert set(PAIR) <= stopped
        assert _consumes(app, PAIR[0]) is False and _consumes(app, PAIR[1]) is False
        with connect(fleet_settings.require_database_url()) as conn:
            assert stopped == set(paused_workers(conn, "enrich.7b"))
    finally:
        report = resume(fleet_settings, app, "enrich.7b")
    assert set(PAIR) <= set(report.resumed) and _consumes(app, PAIR[1]) is True


def test_all_starts_one_worker_per_gpu_and_stops_them_on_sigterm(pool: Pool, app: Celery) -> None:
    parent = _start(pool, "all", "--queues", "enrich.14b", "--all", "--loglevel", "WARNING")
    children: list[int] = []
    try:
        _until(lambda: set(ALL_14B) == _pong(app, ALL_14B), 90, f"{ALL_14B} answering ping", pool)
        children = [int(pid) for pid in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()]
        pinned = sorted(_environ(pid)["CUDA_VISIBLE_DEVICES"] for pid in children)
        assert pinned == UUIDS
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]  # reaped by the parent
        log = (pool.logs / "all.log").read_text()
        for name, uuid in zip(ALL_14B, UUIDS, strict=True):
            assert f"worker {name} (GPU {uuid}) exited with 0" in log
    finally:
        _stop([parent])
        for pid in children:  # only if the parent died without stopping them
            _kill(pid)


def test_an_llm_enrichment_records_the_gpu_vram_peak(
    fleet_settings: Settings, db: psycopg.Connection, llm: FakeLLMServer
) -> None:
    tiers = TiersSettings.model_validate({"7b": TierSettings(model="fake-7b", endpoints=[llm.url])})
    ctx = WorkerContext(fleet_settings.model_copy(update={"tiers": tiers}))
    fake = FakeNvml.with_gpus(1)
    fake.gpus[0].memory_used = 5000 * MIB
    nvml = open_nvml(fake)
    assert nvml is not None
    ctx.gpu_sampler = TelemetrySampler(nvml_reader(nvml, nvml.gpus()[0], pids=set), host=HOST, interval_s=60)
    hashes = [f"gpu-peak-test-{time.time_ns()}-{n}" for n in range(2)]
    try:
        assert isinstance(enrich_span(_span(hashes[0]), ctx), EmbedMessage)
        ctx.gpu_sampler = None  # a worker with no GPU: no peak
        assert isinstance(enrich_span(_span(hashes[1]), ctx), EmbedMessage)
        rows = db.execute(
            "SELECT content_hash, tier, gpu_vram_peak_mib FROM enrichments WHERE content_hash = ANY(%s)"
            " ORDER BY content_hash",
            (hashes,),
        ).fetchall()
        assert rows == [(hashes[0], "7b", 5000), (hashes[1], "7b", None)]
    finally:
        db.execute("DELETE FROM enrichments WHERE content_hash = ANY(%s)", (hashes,))
        db.execute("DELETE FROM attempts WHERE key = ANY(%s)", (hashes,))
        ctx.db.close()
        ctx.http.close()
        nvml.close()


# ---------------------------------------------------------------- helpers


def _start(pool: Pool, log_name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with (pool.logs / f"{log_name}.log").open("ab") as log:
        return subprocess.Popen(
            [RAGFLEET, "worker", *args],
            env={**pool.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _stop(procs: Any) -> None:
    """SIGTERM (Celery's warm shutdown), then wait; SIGKILL what is still there after 60 s."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill(pid: int) -> None:
    deadline = time.monotonic() + 60
    try:
        os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_text().split("\0")
    return dict(item.split("=", 1) for item in raw if "=" in item)


def _pong(app: Celery, names: list[str]) -> set[str]:
    """Which of `names` answer a ping (waiting up to 2 s, less when all of them answer)."""
    replies = app.control.ping(destination=names, timeout=2.0, limit=len(names)) or []
    return {name for reply in replies for name in reply}


def _consumes(app: Celery, worker: str) -> bool | None:
    """Whether `worker` consumes enrich.7b now (None: no answer)."""
    replies = app.control.inspect(timeout=3.0, destination=[worker], limit=1).active_queues() or {}
    if worker not in replies:
        return None
    return any(q["name"] == "enrich.7b" for q in replies[worker])


def _events(db: psycopg.Connection, worker: str) -> list[tuple[str, str]]:
    return db.execute("SELECT kind, queue FROM worker_events WHERE worker = %s ORDER BY id", (worker,)).fetchall()


def _in_redis(client: redis.Redis, key: str) -> bool:
    return bool(client.exists(key) == 1)


def _sampled_twice(db: psycopg.Connection, uuid: str) -> bool:
    return _history(db, uuid)[0] >= 2


def _history(db: psycopg.Connection, uuid: str) -> tuple[int, int | None]:
    row = db.execute(
        "SELECT count(*), max(fb_used_mib) FROM gpu_samples WHERE gpu_uuid = %s AND host = %s", (uuid, HOST)
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def _span(content_hash: str) -> SpanMessage:
    code = f"def scale(value, factor):\n    return value * factor  # {content_hash}\n"
    return SpanMessage(
        tier="7b", span_id=1, repo="gpu-peak", path="scale.py", language="python", kind="function", name="scale",
        start_line=1, end_line=2, content_hash=content_hash, content=code, complexity=Complexity(lines=2),
    )  # fmt: skip


def _until(check: Callable[[], bool], timeout_s: float, what: str, pool: Pool) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"==== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in pool.logs.glob("*.log"))
            print(logs, file=sys.stderr)
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.2)
