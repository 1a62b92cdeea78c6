"""drain, resume, purge and backlog files against real brokers — the session's embedded Redis and a local
RabbitMQ — and real chunk workers.

Load: stale FileMessages (a file no `files` row knows). A chunk worker parses each one in full, then
finds it stale, so every message costs CPU time but writes no row and publishes nothing downstream.
Each message's fate is read from the worker's log (`Task ragfleet.chunk_file[<id>] succeeded`): that
is how the tests show that nothing was lost and nothing ran twice. RabbitMQ gets one chunk worker of
its own (sharing the session's database); RAGFLEET_TEST_AMQP_URL points elsewhere, and the RabbitMQ
half is skipped when the broker cannot be reached.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from celery import Celery

from ops import fleet
from ops.backlog import iter_records, partial_path, publish_backlog, validate_backlog
from ops.drain import DrainTimeoutError, drain, purge, resume
from ops.queues import count_waiting
from ops.status import workers_online
from shared.celery_config import check_broker, make_celery
from shared.db import connect
from shared.db.consumers import forget_paused, paused_workers
from shared.errors import BadInputError, StorageUnavailableError
from shared.hashing import content_hash
from shared.messages import FileMessage
from shared.names import ALL_QUEUES, QUEUE_CHUNK, TASK_CHUNK_FILE
from shared.redact import redact_url
from shared.settings import Settings
from tests.integration.conftest import wait_until

AMQP_URL = os.environ.get("RAGFLEET_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
SUCCEEDED = re.compile(r"Task ragfleet\.chunk_file\[([0-9a-f-]{36})\] succeeded")
# About 240 lines of Python: enough parsing per message that a few hundred keep two processes busy for seconds.
SOURCE = "\n\n".join(
    f"def step_{i}(value, factor={i}):\n    '''Step {i}.'''\n    if value > factor:\n"
    f"        return [v * factor for v in range(value)]\n    return None\n"
    for i in range(40)
)


@dataclass(frozen=True)
class Broker:
    """One broker with a chunk worker consuming from it."""

    name: str
    settings: Settings
    app: Celery
    chunk_log: Path


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def broker(
    request: pytest.FixtureRequest, fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    with connect(fleet_settings.require_database_url()) as conn:  # records an earlier, failed run may have left
        conn.execute("DELETE FROM paused_consumers WHERE queue = %s", (QUEUE_CHUNK,))
    if request.param == "redis":
        log = fleet.worker_logs(fleet_settings) / f"worker-{QUEUE_CHUNK}.log"
        yield Broker("redis", fleet_settings, make_celery(fleet_settings), log)
        return
    with _rabbitmq_chunk_worker(fleet_settings, tmp_path_factory.mktemp("rabbitmq")) as rabbit:
        yield rabbit


@pytest.fixture(autouse=True)
def _chunk_consumers_resumed(broker: Broker) -> Iterator[None]:
    """Whatever a test does, it leaves the chunk consumers running, with no record left behind."""
    yield
    resume(broker.settings, broker.app, QUEUE_CHUNK)
    wait_until(lambda: count_waiting(broker.app, QUEUE_CHUNK) == 0, 60, "the chunk queue to empty")


@contextmanager
def _rabbitmq_chunk_worker(settings: Settings, state_dir: Path) -> Iterator[Broker]:
    rabbit = settings.model_copy(update={"broker_url": AMQP_URL})
    app = make_celery(rabbit)
    try:
        check_broker(app)
    except StorageUnavailableError as exc:
        pytest.skip(f"RabbitMQ at {redact_url(AMQP_URL)} is unreachable (set RAGFLEET_TEST_AMQP_URL): {exc}")
    for queue in ALL_QUEUES:  # leftovers of earlier runs would spoil the counts
        purge(app, queue, confirmed=True)
    node = f"chunk-rmq-{uuid.uuid4().hex[:8]}@%h"
    log = state_dir / "worker-chunk.log"
    env = {
        **os.environ,
        "RAGFLEET_BROKER_URL": AMQP_URL,
        "RAGFLEET_DATABASE_URL": settings.require_database_url(),
        "RAGFLEET_STATE_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "celery", *fleet.worker_argv(QUEUE_CHUNK, rabbit, node_name=node)]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        prefix = node.split("@")[0] + "@"
        wait_until(lambda: any(w.startswith(prefix) for w in workers_online(app)), 60, "the RabbitMQ chunk worker")
        yield Broker("rabbitmq", rabbit, app, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for queue in ALL_QUEUES:
            purge(app, queue, confirmed=True)


# ---------------------------------------------------------------- helpers


def _publish_stale_files(app: Celery, n: int, serializer: str = "msgpack") -> list[str]:
    """n chunk messages for files no row knows; returns their task ids."""
    repo = f"drain-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(n):
        msg = FileMessage(
            repo=repo,
            path=f"pkg/mod_{i}.py",
            content_hash=content_hash(f"{repo}/{i}"),
            language="python",
            size_bytes=len(SOURCE),
            content=SOURCE,
        )
        ids.append(app.send_task(TASK_CHUNK_FILE, args=[msg.to_wire()], queue=QUEUE_CHUNK, serializer=serializer).id)
    return ids


def _succeeded(log: Path, offset: int) -> Counter[str]:
    """task id -> times the chunk worker logged it as succeeded since `offset`."""
    with log.open("rb") as f:
        f.seek(offset)
        return Counter(SUCCEEDED.findall(f.read().decode(errors="replace")))


def _chunk_consumers(broker: Broker) -> set[str]:
    return {w for w, queues in workers_online(broker.app).items() if QUEUE_CHUNK in queues}


def _recorded(broker: Broker) -> list[str]:
    with connect(broker.settings.require_database_url()) as conn:
        return paused_workers(conn, QUEUE_CHUNK)


def _stop_chunk_consumers(broker: Broker) -> tuple[str, ...]:
    """Drain without a backlog: waits for the queue to empty, then stops (and records) its consumers."""
    report = drain(broker.settings, broker.app, QUEUE_CHUNK, timeout_s=60)
    assert report.workers and set(report.workers) == set(_recorded(broker))
    assert report.remaining == 0 and not _chunk_consumers(broker)
    return report.workers


# ---------------------------------------------------------------- tests


def test_drain_under_load_moves_every_waiting_message_once(broker: Broker, tmp_path: Path) -> None:
    app, backlog = broker.app, tmp_path / "chunk.msgpack"
    offset = broker.chunk_log.stat().st_size
    workers = _stop_chunk_consumers(broker)
    published = _publish_stale_files(app, 400)  # more than the worker gets through before the move begins
    wait_until(lambda: count_waiting(app, QUEUE_CHUNK) == len(published), 30, "400 waiting messages")
    assert resume(broker.settings, app, QUEUE_CHUNK).resumed == workers
    # The worker is busy (running and prefetched tasks) when the drain begins.
    wait_until(lambda: count_waiting(app, QUEUE_CHUNK) < len(published), 30, "the worker to start consuming")

    progress: list[tuple[int, int]] = []
    report = drain(
        broker.settings, app, QUEUE_CHUNK, to=backlog, timeout_s=60, on_progress=lambda *a: progress.append(a)
    )

    assert report.workers == workers and _recorded(broker) == list(workers)
    assert 0 < report.before == report.moved and report.counts_match and report.remaining == 0
    assert progress[0] == (0, report.before) and progress[-1] == (report.moved, report.before)
    summary = validate_backlog(backlog)
    assert summary.complete and summary.records == report.moved and summary.by_queue == {QUEUE_CHUNK: report.moved}
    assert not partial_path(backlog).exists()
    parked = [r.task_id for r in iter_records(backlog)]
    assert len(set(parked)) == len(parked) == report.moved
    # Everything the drain did not move ran before it finished (the prefetched messages included), once.
    wait_until(lambda: set(_succeeded(broker.chunk_log, offset)) | set(parked) >= set(published), 10, "the log")
    ran = _succeeded(broker.chunk_log, offset)
    assert ran and not set(ran) & set(parked) and set(ran) | set(parked) == set(published)
    assert set(ran.values()) == {1}
    assert count_waiting(app, QUEUE_CHUNK) == 0 and not _chunk_consumers(broker)

    again = drain(broker.settings, app, QUEUE_CHUNK, to=tmp_path / "again.msgpack", timeout_s=30)
    assert (again.workers, again.before, again.moved) == ((), 0, 0)  # idempotent: nothing left to stop or move
    assert validate_backlog(tmp_path / "again.msgpack").records == 0

    sent = publish_backlog(app, backlog)
    assert sent.published == sent.records == report.moved
    wait_until(lambda: count_waiting(app, QUEUE_CHUNK) == report.moved, 30, "the backlog back in the queue")
    assert resume(broker.settings, app, QUEUE_CHUNK).resumed == workers
    wait_until(lambda: set(_succeeded(broker.chunk_log, offset)) >= set(published), 120, "every message to run")
    ran = _succeeded(broker.chunk_log, offset)
    assert set(ran) == set(published) and set(ran.values()) == {1}  # nothing lost, nothing run twice
    assert _chunk_consumers(broker) == set(workers) and _recorded(broker) == []


def test_dry_run_stops_nothing_and_an_existing_backlog_is_never_overwritten(broker: Broker, tmp_path: Path) -> None:
    consumers = _chunk_consumers(broker)
    dry = drain(broker.settings, broker.app, QUEUE_CHUNK, to=tmp_path / "b.msgpack", dry_run=True)
    assert dry.dry_run and set(dry.workers) == consumers and dry.moved == 0
    assert _recorded(broker) == [] and not (tmp_path / "b.msgpack").exists()

    existing = tmp_path / "taken.msgpack"
    existing.write_bytes(b"keep me")
    with pytest.raises(BadInputError, match=re.escape(f"{existing}: already exists")):
        drain(broker.settings, broker.app, QUEUE_CHUNK, to=existing)
    partial_path(tmp_path / "left.msgpack").write_bytes(b"")
    with pytest.raises(BadInputError, match="interrupted drain"):
        drain(broker.settings, broker.app, QUEUE_CHUNK, to=tmp_path / "left.msgpack")
    assert existing.read_bytes() == b"keep me"
    assert _chunk_consumers(broker) == consumers and _recorded(broker) == []
    with pytest.raises(BadInputError, match="unknown queue; known: chunk, enrich.7b"):
        drain(broker.settings, broker.app, "chunks")


def test_purge_counts_then_deletes_only_when_confirmed(broker: Broker) -> None:
    app = broker.app
    _stop_chunk_consumers(broker)
    _publish_stale_files(app, 25)
    wait_until(lambda: count_waiting(app, QUEUE_CHUNK) == 25, 30, "25 waiting messages")
    with pytest.raises(DrainTimeoutError, match="25 messages waiting"):
        drain(broker.settings, app, QUEUE_CHUNK, timeout_s=1)  # it cannot empty with nobody consuming

    refused = purge(app, QUEUE_CHUNK, confirmed=False)
    assert (refused.waiting, refused.purged) == (25, None) and count_waiting(app, QUEUE_CHUNK) == 25
    done = purge(app, QUEUE_CHUNK, confirmed=True)
    assert (done.waiting, done.purged) == (25, 25) and count_waiting(app, QUEUE_CHUNK) == 0
    assert purge(app, QUEUE_CHUNK, confirmed=True).purged == 0  # idempotent
    with pytest.raises(BadInputError, match="known: chunk, enrich.7b, enrich.14b, enrich.api, embed"):
        purge(app, "nope", confirmed=True)


def test_resume_with_nothing_recorded_says_so(broker: Broker) -> None:
    report = resume(broker.settings, broker.app, QUEUE_CHUNK)
    assert report.nothing_to_resume and report.resumed == ()
    with connect(broker.settings.require_database_url()) as conn:
        forget_paused(conn, QUEUE_CHUNK, ["gone@nowhere"])  # harmless when absent
        conn.execute("INSERT INTO paused_consumers (queue, worker) VALUES (%s, %s)", (QUEUE_CHUNK, "gone@nowhere"))
    gone = resume(broker.settings, broker.app, QUEUE_CHUNK)
    assert gone.unreachable == ("gone@nowhere",) and _recorded(broker) == []


def test_bad_backlog_files_are_refused_before_anything_is_published(broker: Broker, tmp_path: Path) -> None:
    app = broker.app
    _stop_chunk_consumers(broker)
    ids = _publish_stale_files(app, 2) + _publish_stale_files(app, 1, serializer="json")  # a text body too
    wait_until(lambda: count_waiting(app, QUEUE_CHUNK) == 3, 30, "3 waiting messages")
    good = tmp_path / "good.msgpack"
    assert drain(broker.settings, app, QUEUE_CHUNK, to=good).moved == 3
    assert [r.content_type for r in iter_records(good)] == ["application/x-msgpack"] * 2 + ["application/json"]
    data = good.read_bytes()
    ends = _record_ends(data)  # header, 3 records, end record
    assert len(ends) == 5

    cases = {
        "text.msgpack": (b"hello, I am not a backlog\n", "not a ragfleet backlog (header is int, not a map)"),
        "garbage.msgpack": (b"\xc1\xc1\xc1", "not a ragfleet backlog (record 0 is not msgpack"),
        "empty.msgpack": (b"", "empty file"),
        "cut.msgpack": (data[: ends[2] + 7], "truncated in record 3"),
        "no-end.msgpack": (data[: ends[3]], "truncated after record 3 (no end record"),
        "format.msgpack": (_repack(data, 0, format="other"), "header format 'other'"),
        "version.msgpack": (_repack(data, 0, version=2), "backlog version 2; this ragfleet reads version 1"),
        "queue.msgpack": (_repack(data, 2, queue="nowhere"), "record 2: unknown queue 'nowhere'"),
        "body.msgpack": (_repack(data, 3, body="text"), "record 3: field 'body' missing or not bytes"),
        "count.msgpack": (_repack(data, 4, records=7), "end record counts 7 records, the file holds 3"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BadInputError, match=re.escape(f"{path}: ")) as caught:
            publish_backlog(app, path)
        assert message in str(caught.value), (name, str(caught.value))
        assert count_waiting(app, QUEUE_CHUNK) == 0, name
    with pytest.raises(BadInputError, match="cannot read backlog"):
        publish_backlog(app, tmp_path / "missing.msgpack")

    # The partial file of an interrupted drain: its whole records are accepted when asked for.
    cut = tmp_path / "cut.msgpack"
    assert publish_backlog(app, cut, partial=True, dry_run=True).records == 2
    sent = publish_backlog(app, good)
    assert sent.published == 3 and count_waiting(app, QUEUE_CHUNK) == 3
    offset = broker.chunk_log.stat().st_size
    resume(broker.settings, app, QUEUE_CHUNK)
    wait_until(lambda: set(_succeeded(broker.chunk_log, offset)) == set(ids), 60, "the 3 messages to run")


def _record_ends(data: bytes) -> list[int]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    ends = []
    for _ in unpacker:
        ends.append(unpacker.tell())
    return ends


def _repack(data: bytes, index: int, **changes: object) -> bytes:
    """The backlog with one of its maps (0: the header) changed."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    maps = list(unpacker)
    maps[index] = {**maps[index], **changes}
    return b"".join(msgpack.packb(m, use_bin_type=True) for m in maps)
