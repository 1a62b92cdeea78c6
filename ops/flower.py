"""`ragfleet flower`: Flower against the configured broker, with basic auth from settings.

Flower shows Celery's own view: workers, tasks, rates. It refuses to start without basic auth unless
told `--no-auth`, because it can revoke tasks and shut workers down. The password travels in the
`FLOWER_BASIC_AUTH` environment variable, never on the command line (where `ps` would show it).
GPU telemetry is not Flower's: scrape `ragfleet metrics` for it.
"""

from __future__ import annotations

import os
import sys

from shared.errors import ConfigurationError
from shared.settings import Settings


def flower_command(
    settings: Settings, *, port: int | None, address: str | None, no_auth: bool
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run Flower for this fleet."""
    settings.require_broker_url()
    flower = settings.flower
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    if not no_auth:
        if not flower.user or flower.password is None or not flower.password.get_secret_value():
            raise ConfigurationError(
                "Flower needs basic auth: set RAGFLEET_FLOWER__USER and RAGFLEET_FLOWER__PASSWORD, or pass --no-auth"
            )
        if ":" in flower.user:
            raise ConfigurationError("RAGFLEET_FLOWER__USER: a user name cannot contain ':'")
        env["FLOWER_BASIC_AUTH"] = f"{flower.user}:{flower.password.get_secret_value()}"
    argv = [
        sys.executable, "-m", "celery", "-A", "workers", "flower",
        f"--port={port or flower.port}", f"--address={address or flower.address}",
        f"--max_tasks={flower.max_tasks}",  # bounded memory on a busy fleet
        "--enable_events=True",  # workers send task events already; this keeps them on after a restart
    ]  # fmt: skip
    return argv, env
