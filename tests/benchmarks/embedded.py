"""The embedded stack a benchmark runs on: a fresh state dir, stopped and removed on the way out.

`kill` (SIGTERM) ends a benchmark the way Ctrl-C does: through the `finally` blocks, so no Redis,
PostgreSQL or worker is left running behind it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from rich.console import Console

from ops import stack
from shared.settings import Settings, load_settings


@contextlib.contextmanager
def embedded_stack(prefix: str, console: Console) -> Iterator[Settings]:
    """Settings of an embedded Redis + PostgreSQL/pgvector under a new temporary state dir."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        console.print(f"starting the embedded stack under {state_dir} ...")
        stack.up(Settings(state_dir=state_dir, broker_url=None, database_url=None))
        yield _own(state_dir)
    finally:
        with contextlib.suppress(Exception):
            stack.down(_own(state_dir))
        shutil.rmtree(state_dir, ignore_errors=True)


def _own(state_dir: Path) -> Settings:
    """The stack's settings: its own servers, whatever RAGFLEET_BROKER_URL / _DATABASE_URL say."""
    return load_settings(state_dir=state_dir, broker_url=None, database_url=None)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)
