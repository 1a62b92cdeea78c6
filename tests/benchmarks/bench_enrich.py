"""LLM-enrichment benchmark: how well one `enrich.7b` worker keeps the LLM servers' slots busy (issue 3, item 12).

Setup: one embedded stack (Redis + PostgreSQL/pgvector) under a temporary state dir; `hosts` fake Ollama servers
(tests/fake_llm.py, the 7b tier's endpoints), each with N parallel slots and latency L; one real `enrich.7b` worker
(threads pool, (concurrency + queue depth) × hosts threads, started with `ops.fleet.worker_argv`) consuming from
the broker under test: the embedded Redis or RabbitMQ (AMQP). No embed worker runs (its model would steal CPU);
the embed queue is purged after every run.

Definitions (S = N × hosts slots in all, M = spans-per-slot × S spans per run, L = the server's latency):
- Times come from the fake servers' in-flight samples (every slot taken or released), merged over all hosts.
- Utilisation = ∫ in_flight dt / (S × window), window = first slot taken → the last request started being served
  (the queue is non-empty until then; afterwards idle slots are inevitable). Target ≥ 0.95.
- Overhead per span = (first slot taken → last response done) × S / M − L: the time a slot spends per span on
  anything but the model. Target < 2% of L.
- spans/s = M / (first slot taken → last response done); ideal spans/s = S / L.
Each figure is measured within one run; the table shows the median (and the minimum utilisation) of --runs runs.

The product keeps `queue_depth` (default 1) requests waiting at each host beyond its slots, so a slot never idles
between two tasks; `--queue-depth 0` measures the fleet without that (each slot waits for the worker's bookkeeping).

Run it: `make bench-enrich` or `python -m tests.benchmarks.bench_enrich --runs 3 --slots 4 --latency 0.5`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from celery import Celery
from rich.console import Console
from rich.table import Table

from ops import fleet
from shared.celery_config import check_broker, make_celery
from shared.errors import StorageUnavailableError
from shared.hashing import content_hash
from shared.messages import Complexity, SpanMessage
from shared.names import QUEUE_EMBED, QUEUE_ENRICH_7B, TASK_ENRICH_SPAN
from shared.settings import BrokerSettings, Settings, TierSettings, TiersSettings
from tests.benchmarks.embedded import embedded_stack
from tests.fake_llm import FakeLLMServer

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
MODEL = "fake-7b"
TABLES = "enrichments, attempts, dead_letters, deliveries"
UTILISATION_TARGET = 0.95
OVERHEAD_TARGET = 0.02  # of the latency
CAPTION = (
    "S = slots per host × hosts, L = server latency, M = spans per run. Utilisation = ∫ in-flight dt / (S × window), "
    "window = first slot taken → last request started (queue non-empty); target ≥ 0.95. Overhead per span = "
    "(first slot taken → last response done) × S / M − L; target < 2% of L. Medians of {runs} runs; "
    "min = worst run's utilisation."
)

console = Console(width=None if sys.stdout.isatty() else 160)  # piped (make | tee): no wrapped columns


@dataclass(frozen=True)
class RunResult:
    """One run's figures, all taken from the fake servers' slot samples."""

    spans: int
    wall_s: float
    utilisation: float
    overhead_s: float


def measure(samples: Sequence[Sequence[tuple[float, int]]], since: float, slots: int, latency_s: float) -> RunResult:
    """Utilisation and overhead (module docstring) from each host's (time, in-flight) samples taken after `since`."""
    events: list[tuple[float, int]] = []
    for host in samples:
        level = 0
        for at, in_flight in host:
            if at >= since:
                events.append((at, in_flight - level))
            level = in_flight
    events.sort()
    starts = [at for at, delta in events if delta > 0]
    if not starts:
        raise RuntimeError("no request reached the fake servers")
    first, last_start, last_done = starts[0], starts[-1], events[-1][0]
    busy, level, previous = 0.0, 0, first
    for at, delta in events:
        if at > last_start:
            break
        busy += level * (at - previous)
        level, previous = level + delta, at
    window = last_start - first
    wall = last_done - first
    utilisation = busy / (slots * window) if window > 0 else 1.0
    return RunResult(len(starts), wall, utilisation, wall * slots / len(starts) - latency_s)


def span_message(run_id: str, i: int) -> SpanMessage:
    """A small function whose content is unique to this run (content-addressed reuse would skip a repeat)."""
    name = f"bench_{run_id}_{i}"
    content = f"def {name}(value, factor):\n    return value * factor + {i}\n"
    return SpanMessage(
        tier="7b", span_id=i + 1, repo="bench", path=f"bench/{run_id}.py", language="python", kind="function",
        name=name, start_line=1, end_line=2, content_hash=content_hash(content), content=content,
        complexity=Complexity(lines=2, parameters=2),
    )  # fmt: skip


def purge(app: Celery, *queues: str) -> None:
    """Drop whatever waits on these queues (a queue the broker does not know yet is already empty)."""
    for queue in queues:
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(queue)


@contextlib.contextmanager
def worker(settings: Settings, state_dir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `enrich.7b` worker (own process group, its log under the state dir), stopped on the way out."""
    tier = settings.tiers.t7b
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGFLEET_")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "RAGFLEET_STATE_DIR": str(state_dir),
        "RAGFLEET_BROKER_URL": settings.require_broker_url(),
        "RAGFLEET_DATABASE_URL": settings.require_database_url(),
        "RAGFLEET_BROKER__LLM_PREFETCH_MULTIPLIER": str(settings.broker.llm_prefetch_multiplier),
        "RAGFLEET_TIERS__7B__PROTOCOL": tier.protocol,
        "RAGFLEET_TIERS__7B__MODEL": tier.model,
        "RAGFLEET_TIERS__7B__ENDPOINTS": ",".join(tier.endpoints),
        "RAGFLEET_TIERS__7B__CONCURRENCY": str(tier.concurrency),
        "RAGFLEET_TIERS__7B__QUEUE_DEPTH": str(tier.queue_depth),
    }
    with celery_worker(QUEUE_ENRICH_7B, settings, state_dir, name, env) as proc:
        yield proc


@contextlib.contextmanager
def celery_worker(
    queue: str, settings: Settings, state_dir: Path, name: str, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker on `queue` with exactly `env` (own process group, its log under the state dir), stopped after."""
    log = state_dir / f"worker-{name.split('@')[0]}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", *fleet.worker_argv(queue, settings, node_name=name)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=state_dir,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_online(app: Celery, proc: subprocess.Popen[bytes], name: str, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"worker {name} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        if app.control.ping(destination=[name], timeout=1.0):
            return
    raise RuntimeError(f"worker {name} did not answer a ping within {timeout_s:.0f}s (log: {log})")


def one_run(app: Celery, db: psycopg.Connection, servers: list[FakeLLMServer], args: argparse.Namespace) -> RunResult:
    """Publish M fresh spans, wait until the worker has stored (and forgotten) every one, measure."""
    slots = args.slots * len(servers)
    spans = args.spans_per_slot * slots
    db.execute(f"TRUNCATE {TABLES}")
    purge(app, QUEUE_EMBED)
    since = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    with app.producer_or_acquire() as producer:
        for i in range(spans):
            app.send_task(TASK_ENRICH_SPAN, args=[span_message(run_id, i).to_wire()], queue=QUEUE_ENRICH_7B,
                          producer=producer)  # fmt: skip
    wait_stored(db, "enrichments", spans, timeout_s=30 + 10 * spans * args.latency / slots)
    purge(app, QUEUE_EMBED)
    result = measure([s.in_flight_samples() for s in servers], since, slots, args.latency)
    if result.spans != spans:
        raise RuntimeError(f"{result.spans} model calls for {spans} spans (retries?): the figures would be wrong")
    return result


def wait_stored(db: psycopg.Connection, table: str, count: int, *, timeout_s: float, poll_s: float = 0.2) -> None:
    """Wait until `table` holds `count` rows and no delivery is pending; RuntimeError on a dead letter or timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = db.execute(
            f"SELECT (SELECT count(*) FROM {table}), (SELECT count(*) FROM deliveries),"
            " (SELECT count(*) FROM dead_letters), (SELECT min(reason) FROM dead_letters)"
        ).fetchone()
        assert row is not None
        stored, pending, dead, reason = row
        if dead:
            raise RuntimeError(f"{dead} message(s) dead-lettered, e.g.: {reason}")
        if stored >= count and pending == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stored}/{count} rows in {table} in time")
        time.sleep(poll_s)


def bench_config(base: Settings, broker_url: str, hosts: int, args: argparse.Namespace) -> list[RunResult]:
    """--runs runs of one (broker, hosts) configuration with its own fake servers and worker."""
    servers: list[FakeLLMServer] = []
    try:
        for _ in range(hosts):
            servers.append(FakeLLMServer(latency_s=args.latency, slots=args.slots, model=MODEL).start())
        endpoints = [s.url for s in servers]
        tier = TierSettings(
            protocol="ollama",
            model=MODEL,
            endpoints=endpoints,
            concurrency=args.concurrency,
            queue_depth=args.queue_depth,
        )
        settings = base.model_copy(
            update={
                "broker_url": broker_url,
                "tiers": TiersSettings.model_validate({"7b": tier}),
                "broker": BrokerSettings(llm_prefetch_multiplier=args.prefetch_multiplier),
            }
        )
        app = make_celery(settings, name="bench")
        name = f"bench-{uuid.uuid4().hex[:8]}@bench"
        log = base.state_dir / f"worker-{name.split('@')[0]}.log"
        try:
            purge(app, QUEUE_ENRICH_7B, QUEUE_EMBED)  # leftovers of an interrupted benchmark
            with (
                worker(settings, base.state_dir, name) as proc,
                psycopg.connect(settings.require_database_url(), autocommit=True) as db,
            ):
                wait_online(app, proc, name, log)
                try:
                    return [one_run(app, db, servers, args) for _ in range(args.runs)]
                except RuntimeError as exc:
                    raise RuntimeError(
                        f"{exc}\n--- worker log (tail) ---\n{log.read_text(errors='replace')[-3000:]}"
                    ) from exc
        finally:
            app.close()
    finally:
        for server in servers:
            server.stop()


def row(broker: str, hosts: int, results: list[RunResult], args: argparse.Namespace) -> list[str]:
    slots = args.slots * hosts
    util = [r.utilisation for r in results]
    overhead = statistics.median(r.overhead_s for r in results)
    rate = statistics.median(r.spans / r.wall_s for r in results)
    util_ok = statistics.median(util) >= UTILISATION_TARGET
    overhead_ok = overhead < OVERHEAD_TARGET * args.latency
    misses = [what for what, ok in (("util", util_ok), ("overhead", overhead_ok)) if not ok]
    verdict = "no: " + " + ".join(misses) if misses else "yes"
    return [
        broker, str(hosts), f"{args.slots}×{hosts}={slots}", str(results[0].spans), f"{rate:.2f}",
        f"{slots / args.latency:.2f}", f"{statistics.median(util):.3f}", f"{min(util):.3f}",
        f"{overhead * 1000:.1f}", f"{100 * overhead / args.latency:.2f}%", verdict,
    ]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_enrich", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (the table shows medians)")
    parser.add_argument("--slots", type=int, default=4, help="parallel slots per host (OLLAMA_NUM_PARALLEL)")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="the tier's concurrency per host (worker threads = (this + queue depth) × hosts); default --slots",
    )
    parser.add_argument(
        "--queue-depth", type=int, default=TierSettings().queue_depth,
        help="requests waiting at each host beyond its slots (default: the product's setting)",
    )  # fmt: skip
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the fake server takes per request")
    parser.add_argument("--spans-per-slot", type=int, default=20, help="M = this × slots in all")
    parser.add_argument("--hosts", default="1,2", help="comma-separated host counts")
    parser.add_argument("--brokers", default="redis,rabbitmq", help="comma-separated: redis (embedded), rabbitmq")
    parser.add_argument("--rabbitmq-url", default=RABBITMQ_URL)
    parser.add_argument(
        "--prefetch-multiplier", type=int, default=BrokerSettings().llm_prefetch_multiplier,
        help="the worker's prefetch multiplier (default: the product's setting)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.concurrency = args.concurrency or args.slots
    args.brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    args.hosts = [int(h) for h in args.hosts.split(",") if h.strip()]
    if unknown := set(args.brokers) - {"redis", "rabbitmq"}:
        parser.error(f"unknown broker(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    table = Table(
        title=f"LLM enrichment: fake server at {args.latency:g} s latency, {args.slots} slots per host, "
        f"tier concurrency {args.concurrency} + queue depth {args.queue_depth} per host",
        caption=CAPTION.format(runs=args.runs),
    )
    for column in ("broker", "hosts", "slots S", "spans M", "spans/s", "ideal S/L", "util median", "util min",
                   "overhead ms/span", "overhead % of L", "target met"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("broker", "target met") else "right", no_wrap=True)
    interrupted = False
    try:
        with embedded_stack("ragfleet-bench-", console) as base:
            for broker in args.brokers:
                url = base.require_broker_url() if broker == "redis" else args.rabbitmq_url
                if broker == "rabbitmq":
                    probe = make_celery(base.model_copy(update={"broker_url": url}), name="probe")
                    try:
                        check_broker(probe)
                    except StorageUnavailableError as exc:
                        console.print(f"[yellow]skipping rabbitmq: {exc}[/yellow]")
                        continue
                    finally:
                        probe.close()
                for hosts in args.hosts:
                    console.print(f"{broker}, {hosts} host(s): {args.runs} run(s) ...")
                    table.add_row(*row(broker, hosts, bench_config(base, url, hosts, args), args))
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]interrupted: stopping what the benchmark started[/yellow]")
    if table.row_count:
        console.print(table)
    console.print(f"whole benchmark: {time.monotonic() - started:.0f} s wall")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
