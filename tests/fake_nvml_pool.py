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

From a shell (the README's small-fleet walk-through):

    python -m tests.fake_nvml_pool STATE.json --gpus 2          # two idle 80 GiB GPUs
    python -m tests.fake_nvml_pool STATE.json --set 1 gpu_temp=91 memory_used_mib=80400
"""

from __future__ import annotations

import argparse
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


def new_pool(count: int) -> list[dict[str, Any]]:
    """`count` idle 80 GiB GPUs: GPU i at 41 + i °C drawing 150 + i W."""
    return [
        {"uuid": f"GPU-fa4e0000-0000-4000-8000-{i:012d}", "name": f"NVIDIA Fake H100 {i}", "memory_total_mib": 81920,
         "memory_used_mib": 4096, "gpu_temp": 41 + i, "power_mw": 150_000 + 1000 * i}
        for i in range(count)
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_nvml_pool", description="Create or change a fake GPU pool."
    )
    parser.add_argument("state", type=Path, help="the JSON file FAKE_NVML_STATE names")
    parser.add_argument("--gpus", type=int, help="write a new pool of this many idle GPUs")
    parser.add_argument("--set", nargs="+", metavar=("INDEX", "KEY=VALUE"), help="change one GPU's readings")
    args = parser.parse_args(argv)
    if args.gpus is not None:
        write_state(args.state, new_pool(args.gpus))
    if args.set:
        gpus = json.loads(args.state.read_text())["gpus"]
        index, *pairs = args.set
        for pair in pairs:
            key, _, value = pair.partition("=")
            gpus[int(index)][key] = json.loads(value)
        write_state(args.state, gpus)
    for i, gpu in enumerate(json.loads(args.state.read_text())["gpus"]):
        used, total = gpu.get("memory_used_mib"), gpu["memory_total_mib"]
        print(f"GPU {i} {gpu['uuid']}: {used}/{total} MiB, {gpu.get('gpu_temp')} °C")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
