"""The Celery app of the worker fleet: `celery -A workers worker -Q chunk` finds it here.

Settings are loaded once, here, at the workers' entry point. An embed worker buffers a whole
batch of messages before it calls the model, so run it with a prefetch of about twice
`embedding.batch_size` (`ragfleet worker --queues embed` does; with plain celery pass
`--prefetch-multiplier 128`).
"""

from __future__ import annotations

from shared.celery_config import make_celery
from shared.settings import load_settings
from workers.context import install_context

settings = load_settings()
app = make_celery(settings, name="workers")
install_context(settings)

import workers.tasks  # noqa: E402,F401  (registers the tasks on `app`)
