"""One Celery configuration for every process: workers consume with it, producers and ops publish with it."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from shared.errors import StorageUnavailableError
from shared.names import ALL_QUEUES, QUEUE_CHUNK, TASK_ROUTES
from shared.redact import redact_url
from shared.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for long GPU tasks (see DESIGN.md § Messages and queues)."""
    transport: dict[str, Any] = {
        # Redis redelivers an unacked message after this: above the longest task, same in every process.
        "visibility_timeout": settings.broker.visibility_timeout_s,
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "max_retries": 3,
    }
    return {
        "broker_url": settings.require_broker_url(),
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        "task_serializer": "msgpack",
        "result_serializer": "msgpack",
        "accept_content": ["msgpack", "json"],
        "event_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_queues": [Queue(name, routing_key=name) for name in ALL_QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": QUEUE_CHUNK,
        "task_routes": TASK_ROUTES,
        "task_create_missing_queues": False,
        # A task is acknowledged when it finishes, so a worker that dies mid-task loses nothing.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": settings.broker.llm_prefetch_multiplier,
        # SIGQUIT (cold shutdown): running tasks get this long, then go back to the queue. SIGTERM (warm)
        # waits for them, and enrichments hand their span back early (workers/shutdown.py).
        "worker_soft_shutdown_timeout": 30.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
    }


def make_celery(settings: Settings, name: str = "ragfleet") -> Celery:
    """A Celery app configured for ragfleet (with no tasks of its own: publish by task name)."""
    app = Celery(name, set_as_current=False)
    app.config_from_object(celery_config(settings))
    return app


def check_broker(app: Celery) -> None:
    """StorageUnavailableError naming the (redacted) broker URL when it cannot be reached."""
    url = str(app.conf.broker_url)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu raises transport-specific errors; all mean the same here
        raise StorageUnavailableError(f"broker {redact_url(url)} is unreachable: {exc}") from exc
