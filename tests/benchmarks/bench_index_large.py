"""Large-repo indexing benchmark (issue 4): a 5,000-file polyglot tree through the real producer and chunk worker.

Setup: one embedded stack (Redis + PostgreSQL/pgvector) under a temporary state dir and one real chunk worker
(`celery -A workers worker -Q chunk`, prefork, as `ragfleet up --workers` starts it). No enrich or embed worker
runs: embedding 5,000 files' spans on this machine's CPU takes about half an hour (≈ 25 spans/s), so this measures
the producer and the chunk stage — what issue 4 changed — and the span messages the chunk worker publishes are
purged after each run.

The tree: real files cycled to `--files` files — the Python standard library (files ≤ 256 KiB), the npm packages
in tests/fixtures/npm and the samples in tests/fixtures/samples (14 languages) — each copy headed by a comment
naming its copy number, so every file's hash differs. Each cycle takes every non-Python source and the next 100
standard-library modules.

Each run indexes the tree under a new repo name (every file is an add) and measures:
- walk only: the walker alone over the tree in a fresh process (no database, no broker) — the bare operation;
- producer: `ragfleet enqueue repo TREE` as a process: wall time, files/s, peak RSS (`ru_maxrss` from wait4);
- chunked: from the start of the enqueue until the files table holds every file chunked (or failed);
- the chunk worker's peak RSS: VmHWM of its main process and of its largest pool child, read from /proc before
  the worker is stopped (a fresh worker per run, so each run's peak is its own).
The table shows the median of --runs runs.

Run it: `make bench-index` or `python -m tests.benchmarks.bench_index_large --files 5000 --runs 3`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec
import psycopg
from rich.console import Console
from rich.table import Table

from ops import fleet, stack
from shared.celery_config import make_celery
from shared.names import ALL_QUEUES, QUEUE_CHUNK
from shared.settings import Settings, WalkSettings, load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RAGFLEET = str(Path(sys.executable).parent / "ragfleet")
MAX_SOURCE_BYTES = 256 * 1024
PYTHON_PER_CYCLE = 100
COMMENT = {
    **dict.fromkeys((".py", ".sh", ".rb", ".yaml", ".yml", ".toml"), "# "),
    **dict.fromkeys(
        (
            ".js",
            ".mjs",
            ".cjs",
            ".jsx",
            ".ts",
            ".tsx",
            ".go",
            ".rs",
            ".java",
            ".c",
            ".h",
            ".cpp",
            ".cc",
            ".hpp",
            ".cs",
            ".kt",
            ".swift",
            ".scala",
            ".php",
        ),
        "// ",
    ),  # fmt: skip
    ".md": "<!-- ",
}
WALK_ONLY = (
    "import resource, sys, time\nfrom pathlib import Path\nfrom producers.walker import Skips, walk_repo\n"
    "from shared.settings import WalkSettings\nt = time.monotonic()\nn = sum(1 for _ in walk_repo(Path(sys.argv[1]),"
    " WalkSettings(), Skips()))\nprint(n, time.monotonic() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)

console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class RunResult:
    """One run's figures."""

    files: int
    walk_s: float
    walk_rss_mib: float
    producer_s: float
    producer_rss_mib: float
    chunked_s: float
    spans: int
    worker_main_mib: float
    worker_child_mib: float


def sources() -> tuple[list[Path], list[Path]]:
    """(non-Python sources, Python standard-library modules): UTF-8 text files a walk would index."""
    generated = pathspec.GitIgnoreSpec.from_lines(WalkSettings().generated_globs)
    others = [p for p in sorted((FIXTURES / "npm").rglob("*")) + sorted((FIXTURES / "samples").iterdir())
              if p.is_file() and p.suffix in COMMENT and not generated.match_file(p.as_posix())]  # fmt: skip
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = [
        p
        for p in sorted(stdlib.rglob("*.py"))
        if "site-packages" not in p.parts and "__pycache__" not in p.parts and p.stat().st_size <= MAX_SOURCE_BYTES
        and not generated.match_file(p.relative_to(stdlib).as_posix()) and _utf8(p)
    ]  # fmt: skip
    return others, python


def build_tree(root: Path, n_files: int) -> dict[str, int]:
    """Write `n_files` files under `root`; returns files per extension."""
    others, python = sources()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    written: dict[str, int] = {}
    cycle, next_python = 0, 0
    while sum(written.values()) < n_files:
        batch = others + [python[(next_python + i) % len(python)] for i in range(PYTHON_PER_CYCLE)]
        next_python += PYTHON_PER_CYCLE
        for source in batch:
            if sum(written.values()) >= n_files:
                break
            origin = FIXTURES if FIXTURES in source.parents else stdlib
            target = root / f"copy{cycle:03d}" / origin.name / source.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            prefix = COMMENT[source.suffix]
            suffix = " -->" if prefix == "<!-- " else ""
            target.write_text(f"{prefix}bench copy {cycle} of {source.name}{suffix}\n" + source.read_text())
            written[source.suffix] = written.get(source.suffix, 0) + 1
        cycle += 1
    return written


def one_run(settings: Settings, tree: Path, repo: str, db: psycopg.Connection) -> RunResult:
    walk = subprocess.run([sys.executable, "-c", WALK_ONLY, str(tree)], capture_output=True, text=True, check=True)
    walked, walk_s, walk_rss_kib = walk.stdout.split()
    with chunk_worker(settings) as worker:
        started = time.monotonic()
        producer = subprocess.Popen([RAGFLEET, "enqueue", "repo", str(tree), "--name", repo],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        assert producer.stdout is not None
        output = producer.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(producer.pid, 0)
        producer.returncode = os.waitstatus_to_exitcode(status)
        producer_s = time.monotonic() - started
        if producer.returncode != 0:
            raise SystemExit(f"enqueue failed:\n{output}")
        files = int(walked)
        deadline = time.monotonic() + 3600
        while True:
            done = db.execute(
                "SELECT count(*) FILTER (WHERE status = 'failed'"
                " OR (status = 'chunked' AND chunked_hash = content_hash)) FROM files WHERE repo = %s",
                (repo,),
            ).fetchone()
            if done is not None and done[0] >= files:
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"chunking did not finish ({done} of {files} files); see the worker's log")
            time.sleep(0.2)
        chunked_s = time.monotonic() - started
        main_kib, child_kib = worker_peaks(worker.pid)
    (spans,) = db.execute("SELECT count(*) FROM spans WHERE repo = %s", (repo,)).fetchone() or (0,)
    purge_span_queues(settings)
    return RunResult(files, float(walk_s), int(walk_rss_kib) / 1024, producer_s, usage.ru_maxrss / 1024, chunked_s,
                     int(spans), main_kib / 1024, child_kib / 1024)  # fmt: skip


@contextlib.contextmanager
def chunk_worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A fresh chunk worker (so its peak memory is this run's), stopped with SIGTERM afterwards."""
    log = settings.state_dir / "logs" / "bench-chunk.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAGFLEET_STATE_DIR": str(settings.state_dir), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "celery", *fleet.worker_argv(QUEUE_CHUNK, settings)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
    app = make_celery(settings)
    deadline = time.monotonic() + 90
    while not (app.control.ping(timeout=1.0) or []):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"chunk worker did not come online (log: {log})")
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker_peaks(pid: int) -> tuple[int, int]:
    """VmHWM (KiB) of the worker's main process and the largest of its pool children."""
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The fields after the command name (which may hold spaces) start with state, then the parent pid.
            if int(stat_file.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat_file.parent.name))
    return _hwm_kib(pid), max((_hwm_kib(c) for c in children), default=0)


def purge_span_queues(settings: Settings) -> None:
    app = make_celery(settings)
    with app.connection_for_write() as conn:
        for queue in ALL_QUEUES:
            if queue != QUEUE_CHUNK:
                with contextlib.suppress(Exception):  # a queue nobody declared yet has nothing to purge
                    conn.default_channel.queue_purge(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragfleet-bench-index-"))
    os.environ["RAGFLEET_STATE_DIR"] = str(work / "state")
    try:
        tree = work / "tree"
        per_ext = build_tree(tree, args.files)
        size_mib = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) / 2**20
        console.print(f"tree: {sum(per_ext.values())} files, {size_mib:.1f} MiB, by extension: "
                      + ", ".join(f"{e} {n}" for e, n in sorted(per_ext.items(), key=lambda kv: -kv[1])))  # fmt: skip
        stack.up(Settings())
        settings = load_settings()
        results = []
        with psycopg.connect(settings.require_database_url(), autocommit=True) as db:
            for run in range(args.runs):
                results.append(one_run(settings, tree, f"bench-{run}", db))
                console.print(f"run {run + 1}/{args.runs}: {results[-1]}")
        report(results, size_mib)
    finally:
        with contextlib.suppress(Exception):
            stack.down(load_settings())
        shutil.rmtree(work, ignore_errors=True)


def report(results: list[RunResult], size_mib: float) -> None:
    def med(field: str) -> float:
        return statistics.median(getattr(r, field) for r in results)

    files = med("files")
    table = Table(title=f"indexing a {files:.0f}-file polyglot tree ({size_mib:.0f} MiB): producer and chunk stage")
    for column in ("stage", "wall s", "files/s", "peak RSS MiB"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    table.add_row("walk only (bare walker)", f"{med('walk_s'):.1f}", f"{files / med('walk_s'):.0f}",
                  f"{med('walk_rss_mib'):.0f}")  # fmt: skip
    table.add_row("producer: `ragfleet enqueue repo`", f"{med('producer_s'):.1f}", f"{files / med('producer_s'):.0f}",
                  f"{med('producer_rss_mib'):.0f}")  # fmt: skip
    table.add_row("enqueue start → every file chunked", f"{med('chunked_s'):.1f}", f"{files / med('chunked_s'):.0f}",
                  f"worker {med('worker_main_mib'):.0f} + child {med('worker_child_mib'):.0f}")  # fmt: skip
    table.caption = (
        f"Medians of {len(results)} runs; {med('spans'):.0f} spans per run. Peak RSS: ru_maxrss of the producer "
        "process; VmHWM of the chunk worker's main process and of its largest prefork child. Enrichment and "
        "embedding not included (no such workers run)."
    )
    console.print(table)


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _utf8(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    return "\0" not in text


if __name__ == "__main__":
    main()
