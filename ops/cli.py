"""The `ragfleet` command: the composition root. It may import every package; nothing imports it.

Errors: a RagfleetError (or an unreachable broker) prints one line naming the input
and the reason, and exits non-zero; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from ops.status_view import pairs
from shared.errors import BadInputError, ConfigurationError, RagfleetError
from shared.names import ALL_QUEUES
from shared.settings import Settings, load_settings, read_settings

app = typer.Typer(
    help="ragfleet: index code into Postgres/pgvector with a Celery worker fleet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
enqueue_app = typer.Typer(help="Publish work to the fleet.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(enqueue_app, name="enqueue")
app.add_typer(db_app, name="db")

console = Console(soft_wrap=True)  # plain lines stay whole in logs and pipes; tables still fit the width
_debug = False


@app.callback()
def _global(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    global _debug
    _debug = debug


# ---------------------------------------------------------------- embedded stack


@app.command()
def up(workers: Annotated[bool, typer.Option("--workers", help="Also start one worker per queue.")] = False) -> None:
    """Start the embedded Redis and PostgreSQL+pgvector under the state dir (and workers)."""
    from ops import fleet, stack

    settings = _explicit_settings()
    state = stack.up(settings)
    for item in state.started:
        console.print(f"started {item}")
    for item in state.already_running:
        console.print(f"already running: {item}")
    if workers:
        started = fleet.start_workers(load_settings())
        running = fleet.running_workers(load_settings())
        for queue in ALL_QUEUES:
            verb = "started" if queue in started else "already running:"
            console.print(f"{verb} worker {queue} (pid {running.get(queue, '?')})")
        console.print(f"worker logs: {fleet.worker_logs(settings)}")


@app.command()
def down() -> None:
    """Stop the background workers, then the embedded Redis and PostgreSQL."""
    from ops import fleet, stack

    settings = load_settings()
    for queue in fleet.stop_workers(settings):
        console.print(f"stopped worker {queue}")
    for item in stack.down(settings):
        console.print(f"stopped {item}")


# ---------------------------------------------------------------- the main job


@app.command()
def index(
    path: Annotated[str, typer.Argument(help="The repository to index: a directory or a git URL.")],
    name: Annotated[
        str | None, typer.Option(help="Repo name (default: the directory's name, or the URL's last part).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up waiting after this many seconds.")] = 3600.0,
    ref: Annotated[str | None, typer.Option(help="With a git URL: the branch, tag or full commit SHA.")] = None,
) -> None:
    """Start the stack and workers if needed, enqueue a repository, wait until it is indexed, summarise."""
    from ops import fleet, stack
    from ops.progress import wait_for_repo

    started_at = time.monotonic()
    stack.up(_explicit_settings())
    settings = load_settings()
    if fleet.start_workers(settings):
        console.print("started one worker per queue in the background (logs: .ragfleet/logs)")
    report = _enqueue_repo(settings, path, name, ref)
    progress, times = wait_for_repo(settings, report.repo, timeout_s=timeout, console=console)
    _print_index_summary(settings, report, progress, times.seconds, time.monotonic() - started_at)


@enqueue_app.command("repo")
def enqueue_repo(
    path: Annotated[str, typer.Argument(help="The repository: a directory or a git URL (put `--` before a URL).")],
    name: Annotated[
        str | None, typer.Option(help="Repo name (default: the directory's name, or the URL's last part).")
    ] = None,
    ref: Annotated[str | None, typer.Option(help="With a git URL: the branch, tag or full commit SHA.")] = None,
) -> None:
    """Walk a repository (a git URL is cloned shallow into a cache first), sync it by content hash, and publish one
    message per new or changed file as the walk goes. Credentials come from RAGFLEET_GIT__TOKEN(S), never the URL."""
    _enqueue_repo(load_settings(), path, name, ref)


@enqueue_app.command("spans")
def enqueue_spans(
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    path: Annotated[str | None, typer.Option(help="Only paths matching this glob (`*` crosses directories).")] = None,
    tier: Annotated[
        str | None, typer.Option(help="Publish to this tier's queue (default: the router's choice).")
    ] = None,
    stale: Annotated[bool, typer.Option(help="Spans enriched under an older prompt version or another model.")] = False,
    failed: Annotated[bool, typer.Option(help="Spans with an enrich or embed dead letter.")] = False,
) -> None:
    """Publish per-span messages straight to a tier's queue: re-enrich, push to a stronger tier, or retry."""
    from producers.spans import SpanSelection
    from producers.spans import enqueue_spans as run_enqueue
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    selection = SpanSelection(repo=repo, path_glob=path, tier=tier, stale=stale, failed=failed)
    with Progress(console=console, transient=True) as bars:
        task = bars.add_task("publishing spans", total=None)
        report = run_enqueue(settings, client, selection, on_publish=lambda i: bars.update(task, completed=i))
    published = sum(report.published.values())
    by_tier = ", ".join(f"enrich.{t} {n}" for t, n in sorted(report.published.items()))
    console.print(
        f"selected {report.selected} distinct spans: published {published}"
        + (f" ({by_tier})" if by_tier else "")
        + f", already current {report.current}"
        + (f"; cleared {report.dead_letters_cleared} dead letters" if failed else "")
    )


@app.command("requeue-dead")
def requeue_dead(
    tier: Annotated[str | None, typer.Option(help="Only spans that died on this tier's queue.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage: chunk, enrich or embed.")] = None,
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, publish nothing.")] = False,
) -> None:
    """Publish dead-lettered messages again, with their history, and remove their dead letters."""
    from ops.requeue import requeue_dead as run_requeue
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    report = run_requeue(settings, client, tier=tier, stage=stage, repo=repo, dry_run=dry_run)
    verb = "would requeue" if dry_run else "requeued"
    console.print(
        f"{verb} {report.total} dead letters" + (f" ({pairs(dict(report.by_queue))})" if report.total else "")
    )


def _enqueue_repo(settings: Settings, path: str, name: str | None, ref: str | None = None) -> Any:
    from ops.progress import enqueue_progress
    from producers.git import checkout, is_git_url
    from producers.repo import enqueue_repo as run_enqueue
    from shared.celery_config import check_broker, make_celery
    from shared.redact import redact_url

    client = make_celery(settings)
    check_broker(client)
    source = None
    if is_git_url(path):
        with console.status(f"fetching {redact_url(path)}"):
            cloned = checkout(settings, path, ref=ref)
        console.print(f"fetched {cloned.url} at {cloned.commit[:12]}" + (f" ({ref})" if ref else ""))
        path, name, source = str(cloned.path), name or cloned.name, cloned.source
    elif ref is not None:
        raise BadInputError(f"--ref {ref}: only a git URL has refs; {path} is a local directory")
    with enqueue_progress(console) as on_progress:
        report = run_enqueue(settings, client, path, name=name, source=source, on_progress=on_progress)
    counts = report.counts.as_dict()
    console.print(
        f"repo {report.repo}: {report.files_seen} files — add {counts['add']}, update {counts['update']}, "
        f"delete {counts['delete']}, unchanged {counts['unchanged']}, renamed {counts['renamed']}; "
        f"published {report.published}, skipped {report.skips.total}"
    )
    for reason, n in sorted(report.skips.counts.items()):
        console.print(f"  skipped {n}: {reason} (e.g. {', '.join(report.skips.examples[reason][:2])})")
    return report


def _print_index_summary(
    settings: Settings, report: Any, progress: Any, stage_s: dict[str, float], total_s: float
) -> None:
    from shared.db import connect
    from shared.db.stats import repo_summary

    with connect(settings.require_database_url()) as conn:
        summary = repo_summary(conn, report.repo)
    table = Table(title=f"indexed {report.repo}", show_header=False)
    table.add_row("files", f"{progress.files_total} ({progress.files_failed} failed, {report.skips.total} skipped)")
    table.add_row("spans", str(progress.spans_total))
    table.add_row("spans by kind", pairs(summary["spans_by_kind"]))
    table.add_row("spans by tier", pairs(summary["spans_by_tier"]))
    table.add_row("embeddings", f"{progress.spans_embedded} spans embedded")
    table.add_row("time per stage", ", ".join(f"{s} {t:.1f}s" for s, t in stage_s.items()) or "-")
    table.add_row("total time", f"{total_s:.1f}s")
    failures = {**summary["failures"], **{f"skipped: {r}": n for r, n in report.skips.counts.items()}}
    table.add_row("failures by reason", pairs(failures) or "none")
    console.print(table)


# ---------------------------------------------------------------- workers


@app.command()
def worker(
    queues: Annotated[str, typer.Option("--queues", "-Q", help="Comma-separated queues to consume.")],
    concurrency: Annotated[int | None, typer.Option(help="Pool size (default: what suits the stage).")] = None,
    pool: Annotated[str | None, typer.Option(help="threads, prefork or solo (default: what suits the stage).")] = None,
    gpu: Annotated[
        str | None,
        typer.Option(help="Pin to this GPU: NVML's index (as nvidia-smi numbers them), a GPU-… or a MIG-… UUID."),
    ] = None,
    every_gpu: Annotated[
        bool, typer.Option("--all", help="Start one worker per GPU (or MIG instance) of this host, each pinned to it.")
    ] = False,
    endpoint: Annotated[
        str | None, typer.Option(help="Send this worker's LLM requests to this URL only (the server on its GPU).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Node name (default: <tier>-gpu<N>@<host> when pinned, else <queue>@<host>).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a worker in the foreground (the same as `celery -A workers worker -Q ...`), pinned to a GPU with --gpu.

    The process becomes the Celery worker (exec), with CUDA_VISIBLE_DEVICES set to the GPU's UUID before
    anything can initialise CUDA; it samples the GPU and pauses its queues while the GPU is too full or too hot.
    """
    from ops.fleet import worker_argv

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in ALL_QUEUES]
    if not names or unknown:
        raise BadInputError(f"--queues {queues}: unknown queue(s) {unknown or names}; known: {', '.join(ALL_QUEUES)}")
    if every_gpu:
        _check_all_gpus_options(gpu, endpoint, name)
    if endpoint is not None:
        _bind_endpoint(names, endpoint)
    settings = load_settings()
    if endpoint is not None:
        _check_endpoint_tiers(names, settings)
    options = [*(["--concurrency", str(concurrency)] if concurrency is not None else []),
               *(["--pool", pool] if pool is not None else []), "--loglevel", loglevel]  # fmt: skip
    if every_gpu:
        sys.exit(_worker_per_gpu(settings, names, options))
    settings.require_broker_url()  # a clear error here, not a traceback from the worker
    spec = gpu if gpu is not None else settings.worker_gpu
    if spec is not None:
        # Before anything can initialise CUDA: the worker's torch only ever sees this GPU.
        pinned_name = _pin_gpu(spec, settings, names)
        name = name or pinned_name
    argv = worker_argv(names[0], settings, node_name=name, loglevel=loglevel)
    argv[argv.index("-Q") + 1] = ",".join(names)
    if concurrency is not None:
        argv[argv.index("--concurrency") + 1] = str(concurrency)
    if pool is not None:
        argv[argv.index("--pool") + 1] = pool
    sys.stdout.flush()
    # Exec, not import: the worker starts from an environment that already holds the pin (what
    # /proc/<pid>/environ shows is what CUDA reads), and it gets the service manager's signals itself.
    os.execv(sys.executable, [sys.executable, "-m", "celery", *argv])


def _pin_gpu(spec: str, settings: Settings, queues: list[str]) -> str:
    """Resolve `--gpu` through NVML (which does not initialise CUDA), put the pin in this process's environment,
    and return the worker's default node name (`7b-gpu0@%h`).

    The worker finds its GPU again through `worker_gpu` (RAGFLEET_WORKER_GPU), by UUID.
    """
    from workers.gpu.backpressure import BackPressure
    from workers.gpu.nvml import start_nvml
    from workers.gpu.pinning import apply_pin, pin, worker_name

    try:  # bad thresholds stop the launch here, rather than the worker's telemetry later
        BackPressure.from_settings(settings.telemetry)
    except ConfigurationError as exc:
        raise ConfigurationError(f"invalid settings: RAGFLEET_TELEMETRY__*: {exc}") from None
    nvml = start_nvml(settings.telemetry.nvml_module)
    if isinstance(nvml, str):
        raise ConfigurationError(
            f"--gpu {spec}: gpu: none ({nvml}), so no GPU can be pinned; drop --gpu, or install the NVIDIA driver"
        )
    with nvml:
        pinned = pin(nvml.resolve(spec))
    apply_pin(pinned)
    os.environ["RAGFLEET_WORKER_GPU"] = pinned.uuid
    console.print(f"gpu: pinned to {pinned.gpu.describe()}")
    return worker_name(",".join(queues), pinned.index, "%h", pinned.mig_instance)


def _check_all_gpus_options(gpu: str | None, endpoint: str | None, name: str | None) -> None:
    if gpu is not None:
        raise BadInputError(f"--all starts one worker per GPU of this host: leave out --gpu {gpu}")
    if name is not None:
        raise BadInputError(f"--all names each worker after its GPU: leave out --name {name}")
    if endpoint is not None:
        raise BadInputError(
            "--endpoint binds one worker to the model server on its GPU: with --all, start one "
            "`ragfleet worker --gpu G --endpoint URL` per GPU instead"
        )


def _bind_endpoint(queues: list[str], endpoint: str) -> None:
    """Make `endpoint` the only endpoint of each tier this worker consumes (through settings, for the worker too)."""
    from pydantic import ValidationError

    from shared.names import ENRICH_QUEUES
    from shared.redact import redact_url
    from shared.settings import TierSettings

    tiers = [tier for tier, queue in ENRICH_QUEUES.items() if queue in queues]
    if not tiers:
        raise BadInputError(
            f"--endpoint: the worker consumes no LLM tier's queue ({', '.join(queues)}); "
            f"--endpoint goes with {', '.join(ENRICH_QUEUES.values())}"
        )
    if "," in endpoint:
        raise BadInputError(f"--endpoint {redact_url(endpoint)!r}: one URL, the model server on this worker's GPU")
    try:
        TierSettings(endpoints=[endpoint])  # the check every tier endpoint gets
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise BadInputError(f"--endpoint: {reason}") from None
    for tier in tiers:
        os.environ[f"RAGFLEET_TIERS__{tier.upper()}__ENDPOINTS"] = endpoint


def _check_endpoint_tiers(queues: list[str], settings: Settings) -> None:
    from shared.names import ENRICH_QUEUES

    for tier, queue in ENRICH_QUEUES.items():
        if queue in queues and not settings.tiers.get(tier).model:
            raise ConfigurationError(
                f"--endpoint: tier {tier} has no model, so its queue would be served by the static tier; "
                f"set RAGFLEET_TIERS__{tier.upper()}__MODEL"
            )


def _worker_per_gpu(settings: Settings, queues: list[str], options: list[str]) -> int:
    """`worker --all`: one `ragfleet worker --gpu <uuid>` child per GPU; SIGTERM/SIGINT reach them as SIGTERM
    (Celery's warm shutdown: tasks in hand finish or go back to the queue). The exit status is 0 when
    every child's is."""
    import signal
    import socket
    import subprocess

    from workers.gpu.nvml import start_nvml
    from workers.gpu.pinning import all_gpus, worker_name

    nvml = start_nvml(settings.telemetry.nvml_module)
    if isinstance(nvml, str):
        console.print("gpu: none")
        raise ConfigurationError(
            f"--all: gpu: none ({nvml}); no worker started — run `ragfleet worker --queues {','.join(queues)}` "
            "without --all"
        )
    with nvml:
        pins = all_gpus(nvml)
    children: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    debug = ["--debug"] if _debug else []
    for p in pins:
        if stopping:
            break
        label = f"{worker_name(','.join(queues), p.index, socket.gethostname(), p.mig_instance)} (GPU {p.uuid})"
        command = [sys.executable, "-m", "ops.cli", *debug, "worker", "--queues", ",".join(queues), "--gpu", p.uuid]
        # Its own session: a Ctrl-C in this terminal reaches only this process, which sends one SIGTERM on.
        child = subprocess.Popen([*command, *options], env={**os.environ, **p.env}, start_new_session=True)
        children[child.pid] = (label, child)
        console.print(f"started worker {label}, pid {child.pid}")
    failed = 0
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        label, child = children.pop(pid)
        child.returncode = code = os.waitstatus_to_exitcode(status)
        console.print(f"worker {label} exited with {code}")
        failed += code != 0
    return 1 if failed else 0


# ---------------------------------------------------------------- operator views


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Redraw every --interval seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between redraws with --watch.")] = 2.0,
) -> None:
    """Queues (waiting, unacked), workers, row counts, tier accounting and dead letters."""
    from rich.live import Live

    from ops.status import gather
    from ops.status_view import render
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    data = gather(settings, client)
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    if not watch:
        console.print(render(data))
        return
    with (
        Live(render(data), console=console, screen=False, auto_refresh=False) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        while True:
            before, started = data, time.monotonic()
            time.sleep(max(0.2, interval))
            data = gather(settings, client)
            elapsed = time.monotonic() - started
            rates = {q: (before["queues"][q]["waiting"] - d["waiting"]) / elapsed for q, d in data["queues"].items()}
            live.update(render(data, rates), refresh=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What you are looking for, in words.")],
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 5,
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Embed the query and show the nearest spans."""
    from ops.search import search as run_search

    hits = run_search(load_settings(), query, k=k, repo=repo)
    if as_json:
        print(json.dumps(hits, indent=2, default=str))
        return
    table = Table(title=f"search: {query}")
    for column in ("score", "where", "symbol", "summary"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        label = f"[{hit['tier']}] " if hit["tier"] else ""
        table.add_row(
            f"{hit['score']:.3f}",
            f"{hit['repo']}:{hit['path']}:{hit['start_line']}-{hit['end_line']}",
            f"{hit['kind']} {hit['name']}",
            escape(label + (hit["summary"] or "")),  # "[static]" is a label to show, not rich markup
        )
    console.print(table if hits else "no results (is anything indexed? `ragfleet status`)")


@app.command()
def flower(
    port: Annotated[int | None, typer.Option(help="Port (default: RAGFLEET_FLOWER__PORT, 5555).")] = None,
    address: Annotated[str | None, typer.Option(help="Address to bind (default: 127.0.0.1).")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Run without basic auth (trusted networks only).")] = False,
) -> None:
    """Run Flower against the configured broker, with basic auth from settings."""
    from ops.flower import flower_command

    argv, env = flower_command(load_settings(), port=port, address=address, no_auth=no_auth)
    os.execve(argv[0], argv, env)  # Flower owns the process (and its signals) from here


@app.command()
def metrics(
    port: Annotated[int, typer.Option(help="Port to serve /metrics on.")] = 9808,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics: queue depth (waiting, unacked), tokens, cost, latency, dead letters."""
    import signal
    import threading

    from ops.metrics import serve
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"serving metrics on http://{address}:{port}/metrics")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop, not a traceback
        serve(settings, client, port=port, address=address, stop=stop)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the schema migrations this database lacks (idempotent)."""
    from shared.db.migrate import migrate

    applied = migrate(load_settings().require_database_url())
    console.print(", ".join(f"applied {m.version:04d}_{m.name}" for m in applied) or "schema is up to date")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in use (for psql)."""
    print(load_settings().require_database_url())


# ---------------------------------------------------------------- queue maintenance


@app.command()
def drain(
    queue: Annotated[str, typer.Argument(help="The queue to drain.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Move the waiting messages into this new backlog file (.msgpack).")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for running tasks (without --to: for the queue to empty).")
    ] = 600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, stop nothing.")] = False,
) -> None:
    """Stop a queue's consumers across the fleet; with --to, move its waiting messages into a backlog file,
    else wait until it is empty. `ragfleet resume QUEUE` restarts them."""
    from pathlib import Path

    from ops.drain import drain as run_drain
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    target = Path(to).expanduser() if to else None
    with Progress(console=console, transient=True) as bars:
        task = bars.add_task(f"draining {queue}", total=None)

        def on_progress(moved: int, before: int) -> None:
            if moved == 0:
                console.print(f"before: {before} messages waiting in {queue}")
            bars.update(task, completed=moved, total=before)

        report = run_drain(
            settings, client, queue, to=target, timeout_s=timeout, dry_run=dry_run, on_progress=on_progress
        )
    workers = ", ".join(report.workers) or "none running"
    if report.dry_run:
        console.print(
            f"would stop the consumers of {queue}: {workers}; {report.before} messages waiting, "
            f"in flight: {report.in_flight.describe()}"
        )
        return
    console.print(f"stopped the consumers of {queue}: {workers} (`ragfleet resume {queue}` restarts them)")
    if report.backlog is None:
        console.print(f"{queue} is empty (waited {report.waited_s:.1f}s)")
    else:
        console.print(f"after: {report.moved} messages in {report.backlog}")
    if report.remaining:
        console.print(f"{report.remaining} messages arrived during the drain and wait in {queue}: run drain again")
    if not report.counts_match:
        raise RagfleetError(
            f"{queue}: counts differ (before {report.before}, after {report.moved}): did a consumer start meanwhile?"
        )


@app.command()
def resume(queue: Annotated[str, typer.Argument(help="The queue a drain stopped.")]) -> None:
    """Restart the consumers `ragfleet drain` stopped on a queue."""
    from ops.drain import resume as run_resume
    from shared.celery_config import check_broker, make_celery

    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    report = run_resume(settings, client, queue)
    if report.nothing_to_resume:
        console.print(f"nothing to resume: no consumer of {queue} is recorded as stopped")
        return
    if report.resumed:
        console.print(f"resumed consuming {queue}: {', '.join(report.resumed)}")
    if report.unreachable:
        console.print(
            f"not answering (a worker that restarts consumes its queues again): {', '.join(report.unreachable)}"
        )
    if report.gpu_held:
        console.print(
            f"left to back-pressure (GPU still too full or too hot; they resume when it recovers):"
            f" {', '.join(report.gpu_held)}"
        )
    if report.failed:
        raise RagfleetError(f"resume {queue}: failed on {pairs(report.failed)} (still recorded: run resume again)")


@app.command()
def purge(
    queue: Annotated[str, typer.Argument(help="The queue to empty.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete the waiting messages.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
) -> None:
    """Delete a queue's waiting messages (not those workers hold), after printing how many."""
    from ops.drain import purge as run_purge
    from shared.celery_config import check_broker, make_celery

    client = make_celery(load_settings())
    check_broker(client)
    report = run_purge(client, queue, confirmed=yes and not dry_run)
    if report.purged is not None:
        console.print(f"{report.waiting} messages waiting in {queue}: purged {report.purged}")
        return
    console.print(f"{report.waiting} messages waiting in {queue}")
    if not dry_run and report.waiting:
        raise BadInputError(f"purge {queue}: refusing to delete {report.waiting} messages without --yes")


@enqueue_app.command("backlog")
def enqueue_backlog(
    file: Annotated[str, typer.Argument(help="A backlog file written by `ragfleet drain --to`.")],
    partial: Annotated[
        bool, typer.Option("--partial", help="Accept FILE.partial of an interrupted drain (no end record).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count, publish nothing.")] = False,
) -> None:
    """Publish a backlog's messages again, byte for byte, each to its queue (the whole file is checked first)."""
    from pathlib import Path

    from ops.backlog import publish_backlog
    from shared.celery_config import check_broker, make_celery

    client = make_celery(load_settings())
    if not dry_run:
        check_broker(client)
    with Progress(console=console, transient=True) as bars:
        task = bars.add_task("publishing backlog", total=None)
        report = publish_backlog(
            client,
            Path(file).expanduser(),
            partial=partial,
            dry_run=dry_run,
            on_publish=lambda i, n: bars.update(task, completed=i, total=n),
        )
    verb = "would publish" if dry_run else "published"
    count = report.records if dry_run else report.published
    console.print(
        f"{file}: {report.records} messages; {verb} {count}"
        + (f" ({pairs(dict(report.by_queue))})" if report.by_queue else "")
    )


@enqueue_app.command("msgpack")
def enqueue_msgpack(
    patterns: Annotated[list[str], typer.Argument(help="Backlog files or quoted globs (`**` crosses directories).")],
    reembed: Annotated[
        bool, typer.Option("--reembed", help="Embed every record again, replacing stored vectors.")
    ] = False,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave records whose content hash is already stored.")
    ] = False,
    dummy_fill: Annotated[
        int | None, typer.Option("--dummy-fill", help="Stage zero vectors of this dimension for records without one.")
    ] = None,
    embed_batch_size: Annotated[int, typer.Option(help="Records per embed message (one model call).")] = 256,
    sleep: Annotated[float, typer.Option(help="Pause this many seconds after each write batch and message.")] = 0.0,
    watch: Annotated[bool, typer.Option("--watch", help="Keep polling the globs for new files until stopped.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --watch.")] = 5.0,
    state_file: Annotated[
        str | None, typer.Option(help="Remember finished files here (required with --watch); they are not replayed.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the per-file counts as JSON (one line per file).")
    ] = False,
) -> None:
    """Replay msgpack document backlogs into doc_embeddings: pre-embedded records are written directly,
    the rest are embedded by the embed workers; every record is counted, rejected ones with their reason."""
    import signal
    import threading
    from pathlib import Path

    from ops.doc_backlog_view import failure_summary, nothing_ingested, render_reports, report_json
    from producers.doc_backlog import BacklogReplayer, ReplayOptions, replay_connection
    from producers.doc_backlog_watch import WatchState, expand, replay_pending
    from producers.doc_backlog_watch import watch as run_watch
    from shared.celery_config import check_broker, make_celery
    from shared.names import QUEUE_EMBED, TASK_EMBED_DOCUMENTS

    options = ReplayOptions(
        reembed=reembed, skip_existing=skip_existing, dummy_fill=dummy_fill,
        embed_batch_size=embed_batch_size, sleep_s=sleep,
    )  # fmt: skip
    options.check()
    if watch and state_file is None:
        raise BadInputError("--watch needs --state-file F: the finished files are kept there across restarts")
    if interval <= 0:
        raise BadInputError(f"--interval {interval}: must be positive")
    settings = load_settings()
    client = make_celery(settings)
    check_broker(client)
    state = WatchState(Path(state_file).expanduser()) if state_file else None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def publish(message: Any) -> None:
        client.send_task(TASK_EMBED_DOCUMENTS, args=[message.to_wire()], queue=QUEUE_EMBED)

    def show(reports: list[Any], title: str) -> None:
        if as_json:
            for r in reports:
                print(report_json(r), flush=True)
        else:
            console.print(render_reports(reports, title=title))

    with replay_connection(settings) as conn:
        replayer = BacklogReplayer(settings, conn, publish, options, stop=stop)
        if watch:
            assert state is not None
            print(
                f"watching {', '.join(patterns)} every {interval:g}s (state: {state.path}); Ctrl-C stops",
                file=sys.stderr,
            )
            run_watch(
                replayer, patterns, state, interval_s=interval, stop=stop,
                on_file=lambda r: show([r], "replayed"),
            )  # fmt: skip
            print("stopped; a file not finished is replayed in full next time", file=sys.stderr)
            return
        paths = expand(patterns)
        if not paths:
            raise BadInputError(f"no file matches {' '.join(patterns)}")
        with Progress(console=console, transient=True, disable=as_json) as bars:
            task = bars.add_task("replaying", total=None)
            replayer.on_progress = lambda path, n: bars.update(task, description=f"replaying {path}", completed=n)
            reports = replay_pending(replayer, paths, state)
    skipped = len(paths) - len(reports)
    show(reports, "msgpack replay")
    if skipped and not as_json:
        console.print(f"{skipped} file(s) already finished according to {state_file}: not replayed")
    if any(r.queued for r in reports) and not as_json:
        console.print("queued records are embedded and written by the embed workers (`ragfleet status`)")
    if nothing_ingested(reports):
        raise BadInputError(failure_summary(reports))
    if stop.is_set():
        raise RagfleetError("stopped before every file was replayed; run the same command again to finish")


@app.command("export")
def export(
    out: Annotated[
        str | None, typer.Argument(help="The .tar.gz to write (chunks.jsonl, embeddings.npy, metadata.json).")
    ] = None,
    repo: Annotated[str | None, typer.Option(help="Only this repo's spans (documents are left out).")] = None,
    msgpack_out: Annotated[
        str | None, typer.Option("--msgpack", help="Write doc_embeddings as a replayable msgpack backlog instead.")
    ] = None,
) -> None:
    """Export the index: a tar.gz for other tools, or (--msgpack) a backlog that `enqueue msgpack` replays."""
    from pathlib import Path

    from ops.export import export_msgpack, export_tarball

    if (out is None) == (msgpack_out is None):
        raise BadInputError("export: give either OUT.tar.gz or --msgpack OUT.msgpack")
    settings = load_settings()
    if msgpack_out is not None:
        if repo is not None:
            raise BadInputError("--repo selects spans; --msgpack exports documents (doc_embeddings) only")
        report = export_msgpack(settings, Path(msgpack_out).expanduser())
        console.print(
            f"{report.path}: {report.documents} documents in {report.batches} batches "
            f"({report.placeholders} placeholders without a vector), dim {report.dim}"
        )
        return
    assert out is not None
    report = export_tarball(settings, Path(out).expanduser(), repo=repo)
    console.print(
        f"{report.path}: {report.lines} lines ({report.spans} spans, {report.documents} documents), "
        f"{report.with_embedding} with a vector, dim {report.dim}; models {pairs(dict(report.embedding_models)) or '-'}"
    )


# ---------------------------------------------------------------- entry point


def _explicit_settings() -> Settings:
    """Only what the user set (not filled from the stack record): `up` must not mistake its own URLs for overrides."""
    settings = read_settings()
    return settings.model_copy(update={"state_dir": settings.state_dir.expanduser().resolve()})


def main() -> None:
    """Console entry point: one clear line per error, a traceback only with --debug."""
    try:
        app()
    except RagfleetError as exc:
        _fail(exc, code=2 if isinstance(exc, ConfigurationError) else 1)
    except Exception as exc:
        from kombu.exceptions import OperationalError

        if isinstance(exc, OperationalError):
            _fail(exc, code=1, prefix="broker unreachable: ")
        raise


def _fail(exc: Exception, *, code: int, prefix: str = "") -> None:
    if _debug:
        raise exc
    from shared.redact import redact_text

    message = " ".join(redact_text(str(exc)).split())  # one line, whatever the exception held
    print(f"error: {prefix}{message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
