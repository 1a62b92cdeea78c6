"""A fake NVML *module* for integration tests: real worker processes import it by name.

`RAGFLEET_TELEMETRY__NVML_MODULE=tests.fake_nvml_pool` makes `ragfleet worker --gpu ...` (and the Celery
worker it becomes) use this module where it would use `pynvml`. Every module attribute is the
attribute of one `tests.fake_nvml.FakeNvml`, whose GPUs come from the JSON file named by the
environment variable FAKE_NVML_STATE (read here only), re-read on every NVML call, so a test changes
a GPU's VRAM or temperature while the worker runs:

    {"gpus": [{"uuid": "GPU-…", "name": "NVIDIA Fake GPU 0", "memory_total_mib": 24576,
               "memory_used_mib": 2048, "gpu_temp": 45}, ...]}

Keys ending in `_mib` set the FakeGpu field without the suffix, in MiB; any other key is a FakeGpu
field (gpu_util, memory_util, gpu_temp, memory_temp, power_mw, throttle_reasons, ...). Write the file
atomically (write a temporary file, then rename it): a file caught half-written keeps the last state.
With no FAKE_NVML_STATE, NVML starts and finds no GPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fake_nvml import MIB, FakeGpu, FakeNvml

STATE_ENV = "FAKE_NVML_STATE"

_nvml = FakeNvml()


def write_state(path: Path, gpus: list[dict[str, Any]]) -> None:
    """Write the pool's state atomically (for the test that drives it)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"gpus": gpus}))
    partial.replace(path)


def _refresh() -> None:
    path = os.environ.get(STATE_ENV)
    if not path:
        _nvml.gpus = []
        return
    try:
        specs = json.loads(Path(path).read_text())["gpus"]
    except (OSError, ValueError, KeyError):
        return
    known = {gpu.uuid: gpu for gpu in _nvml.gpus}
    gpus = []
    for spec in specs:
        gpu = known.get(spec["uuid"]) or FakeGpu(uuid=spec["uuid"])  # the same object: handles stay valid
        for key, value in spec.items():
            if key.endswith("_mib"):
                setattr(gpu, key.removesuffix("_mib"), int(value) * MIB)
            elif key != "uuid":
                setattr(gpu, key, value)
        gpus.append(gpu)
    _nvml.gpus = gpus


def __getattr__(name: str) -> Any:
    value = getattr(_nvml, name)
    if name.startswith("nvml") and callable(value) and not isinstance(value, type):
        _refresh()
    return value
