"""Pinning a worker process to one GPU, and naming it after its tier, GPU and host.

Why the environment and why so early: CUDA reads `CUDA_VISIBLE_DEVICES` once, when the process
first initialises it (torch does so lazily, on first use of a CUDA device). Set afterwards, it is
silently ignored. So the launcher resolves `--gpu` through NVML (which does not initialise CUDA),
puts the result in the environment with `apply_pin()`, and only then imports the worker.

Why the UUID: `CUDA_VISIBLE_DEVICES` accepts indices or UUIDs, and CUDA's index order is
"fastest first" unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`; NVML and nvidia-smi number GPUs in PCI bus
order. A UUID means the same GPU to both, whatever the order; we set PCI_BUS_ID as well so that any
index the process prints agrees with nvidia-smi. A MIG instance can only be pinned by its UUID.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from shared.errors import ConfigurationError
from workers.gpu.nvml import GpuInfo, Nvml


@dataclass(frozen=True)
class PinnedGpu:
    """The GPU a worker is pinned to, and the environment that pins it."""

    index: int
    uuid: str
    name: str
    gpu: GpuInfo
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def mig_instance(self) -> int | None:
        """The MIG instance id when pinned to a MIG instance."""
        return self.gpu.mig_instance


def pin_environment(spec: str | None, nvml: Nvml | None) -> PinnedGpu | None:
    """The pin for `--gpu spec`; None when no `--gpu` was given (no pinning).

    ConfigurationError when `--gpu` is given on a host where NVML is unavailable (`open_nvml()`
    returned None); BadInputError (from `Nvml.resolve`) when the spec matches no GPU.
    """
    if spec is None:
        return None
    if nvml is None:
        raise ConfigurationError(
            f"--gpu {spec}: NVML is not available on this host (gpu: none), so no GPU can be pinned; "
            "drop --gpu, or install the NVIDIA driver"
        )
    return pin(nvml.resolve(spec))


def pin(gpu: GpuInfo) -> PinnedGpu:
    """The pin for one GPU (or MIG instance) already listed by NVML."""
    env = {"CUDA_VISIBLE_DEVICES": gpu.uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    return PinnedGpu(index=gpu.index, uuid=gpu.uuid, name=gpu.name, gpu=gpu, env=env)


def all_gpus(nvml: Nvml | None) -> list[PinnedGpu]:
    """One pin per usable device for `ragfleet worker --all`: each GPU, or each MIG instance of a GPU in MIG mode.

    [] when NVML is unavailable (the caller reports `gpu: none`).
    """
    if nvml is None:
        return []
    pins: list[PinnedGpu] = []
    for gpu in nvml.gpus():
        migs = nvml.mig_devices(gpu)
        pins.extend(pin(device) for device in (migs or [gpu]))
    return pins


def apply_pin(pinned: PinnedGpu, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the pin into the environment (os.environ by default) of this process and its children.

    ConfigurationError when torch has already initialised CUDA here: the pin would be ignored.
    """
    if _cuda_initialised():
        raise ConfigurationError(
            f"cannot pin GPU {pinned.uuid}: CUDA is already initialised in this process, "
            "so CUDA_VISIBLE_DEVICES would be ignored; pin before anything uses CUDA"
        )
    target = os.environ if environ is None else environ
    target.update(pinned.env)


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:  # a torch without CUDA support, or a stub module
        return False


def worker_name(queue: str, gpu_index: int, host: str, mig_instance: int | None = None) -> str:
    """`7b-gpu0@host` for queue `enrich.7b` on GPU 0, `embed-gpu1@host` for `embed` on GPU 1.

    The part before `-gpu` is the tier for an enrich queue, else the queue; several queues
    (comma-separated) are joined with `+`. A MIG instance adds `-mig<id>`, so two instances of one
    GPU never share a node name (Celery's control commands address workers by it).
    """
    parts = [q.strip() for q in queue.split(",") if q.strip()]
    if not parts:
        raise ConfigurationError("worker_name: no queue given")
    label = "+".join(p.removeprefix("enrich.") for p in parts)
    device = f"gpu{gpu_index}" if mig_instance is None else f"gpu{gpu_index}-mig{mig_instance}"
    return f"{label}-{device}@{host}"
