"""A thin wrapper over NVML (nvidia-ml-py, module `pynvml`) that takes the module as a parameter.

Why a parameter: unit tests pass `tests/fake_nvml.py`, a module-like object with the same
function names, constants and error classes, so listing, pinning and sampling are tested on a
host with no GPU. Production passes nothing and `pynvml` is imported lazily.

Facts this module is built on:

- NVML ignores `CUDA_VISIBLE_DEVICES`: it always sees every GPU, numbered in PCI bus order (as
  nvidia-smi does). So a pinned worker finds its GPU here by UUID, never by CUDA's index (which is
  0 inside a pinned process whatever the GPU).
- NVML is not CUDA: `nvmlInit` does not create a CUDA context, so a launcher may open NVML to
  resolve `--gpu` *before* it sets `CUDA_VISIBLE_DEVICES`.
- Not every board exposes every reading: NVMLError_NotSupported (also FunctionNotFound on an
  older driver, NoPermission in some containers) makes that one field None, never an error.
  A GPU that is lost, or memory that cannot be read at all, fails the whole sample with
  GpuReadError; any other error on a secondary field makes it None and is logged once.
- A MIG instance has its own UUID (`MIG-…`) and memory; temperature, power, energy and throttle
  reasons belong to its parent GPU, so they are read from the parent's handle.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.errors import BadInputError, RetryableError
from workers.gpu.sample import MIB, GpuSample

log = logging.getLogger(__name__)

T = TypeVar("T")

# NVML's nvmlValueType_t -> the member of nvmlValue_t that holds the value.
_VALUE_MEMBERS = {
    "NVML_VALUE_TYPE_DOUBLE": "dVal",
    "NVML_VALUE_TYPE_UNSIGNED_INT": "uiVal",
    "NVML_VALUE_TYPE_UNSIGNED_LONG": "ulVal",
    "NVML_VALUE_TYPE_UNSIGNED_LONG_LONG": "ullVal",
    "NVML_VALUE_TYPE_SIGNED_LONG_LONG": "sllVal",
    "NVML_VALUE_TYPE_SIGNED_INT": "siVal",
    "NVML_VALUE_TYPE_UNSIGNED_SHORT": "usVal",
}


class GpuReadError(RetryableError):
    """Raised when a GPU cannot be read at all (lost, driver gone); `kind` names NVML's error class."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GpuInfo:
    """One GPU, or one MIG instance of a GPU, as NVML lists it."""

    index: int
    """NVML's index of the physical GPU (for a MIG instance, its parent's)."""
    uuid: str
    name: str
    memory_total_mib: int
    parent_uuid: str | None = None
    """For a MIG instance: the UUID of the GPU it lives on."""
    mig_instance: int | None = None
    """For a MIG instance: its GPU instance id (unique on its parent)."""

    @property
    def is_mig(self) -> bool:
        """True for a MIG instance."""
        return self.parent_uuid is not None

    def describe(self) -> str:
        """`0 GPU-… (NVIDIA H100 80GB HBM3, 81559 MiB)`, as error messages list GPUs."""
        where = f"{self.index}/mig{self.mig_instance}" if self.is_mig else str(self.index)
        return f"{where} {self.uuid} ({self.name}, {self.memory_total_mib} MiB)"


def open_nvml(module: Any | str | None = None) -> Nvml | None:
    """NVML started and holding at least one GPU, or None after one log line `gpu: none (<reason>)`.

    `module` is the `pynvml` module (the default, imported here), a fake with the same names, or the
    name of a module to import (the `telemetry.nvml_module` setting).
    """
    opened = start_nvml(module)
    if isinstance(opened, str):
        _gpu_none(opened)
        return None
    return opened


def start_nvml(module: Any | str | None = None) -> Nvml | str:
    """NVML started and holding at least one GPU, or the reason why not (`open_nvml` logs it; a launcher
    that must fail puts it in its error message instead)."""
    if module is None or isinstance(module, str):
        name = module or "pynvml"
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if name == "pynvml":
                return "nvidia-ml-py is not installed"
            return f"the NVML module {name!r} (telemetry.nvml_module) cannot be imported: {_text(exc)}"
    try:
        module.nvmlInit()
    except module.NVMLError as exc:
        return _init_failure(module, exc)
    except OSError as exc:  # a broken libnvidia-ml that ctypes cannot load
        return f"NVML cannot be loaded: {exc}"
    try:
        count = int(module.nvmlDeviceGetCount())
    except module.NVMLError as exc:
        _shutdown(module)
        return f"NVML cannot count GPUs: {_text(exc)}"
    if count == 0:
        _shutdown(module)
        return "NVML found no GPU"
    return Nvml(module)


def _gpu_none(reason: str) -> None:
    log.info("gpu: none (%s); GPU pinning, telemetry and back-pressure are off", reason)


def _init_failure(module: Any, exc: Exception) -> str:
    reasons = (
        ("NVMLError_LibraryNotFound", "NVML library not found: no NVIDIA driver on this host"),
        ("NVMLError_DriverNotLoaded", "the NVIDIA driver is not loaded"),
        ("NVMLError_NoPermission", "no permission to use NVML"),
    )
    for name, reason in reasons:
        cls = getattr(module, name, None)
        if cls is not None and isinstance(exc, cls):
            return reason
    return f"NVML failed to start: {_text(exc)}"


def _shutdown(module: Any) -> None:
    with contextlib.suppress(module.NVMLError):
        module.nvmlShutdown()


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class Nvml:
    """NVML after `nvmlInit`: list GPUs, resolve a `--gpu` spec, read samples. Thread-safe (NVML is)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()
        self._memory_v2: bool | None = None
        self._closed = False
        # Reading a field that the board lacks is normal; these errors mean "unknown", not "broken".
        self._unavailable: tuple[type[Exception], ...] = tuple(
            cls
            for cls in (
                getattr(module, name, None)
                for name in ("NVMLError_NotSupported", "NVMLError_FunctionNotFound", "NVMLError_NoPermission")
            )
            if isinstance(cls, type)
        )
        self._no_memory_v2: tuple[type[Exception], ...] = (TypeError, *self._unavailable)
        lost = getattr(module, "NVMLError_GpuIsLost", None)
        self._lost: tuple[type[Exception], ...] = (lost,) if isinstance(lost, type) else ()

    def __enter__(self) -> Nvml:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """`nvmlShutdown` (once); the object is unusable afterwards."""
        if not self._closed:
            self._closed = True
            _shutdown(self.module)

    # ------------------------------------------------------------------ listing

    def gpus(self) -> list[GpuInfo]:
        """The physical GPUs, in NVML's (PCI bus) order."""
        m = self.module
        with self._translated("list GPUs"):
            found = []
            for index in range(int(m.nvmlDeviceGetCount())):
                handle = m.nvmlDeviceGetHandleByIndex(index)
                uuid = str(m.nvmlDeviceGetUUID(handle))
                with self._lock:
                    self._handles[uuid] = handle
                memory = m.nvmlDeviceGetMemoryInfo(handle)
                found.append(GpuInfo(index, uuid, str(m.nvmlDeviceGetName(handle)), int(memory.total) // MIB))
            return found

    def mig_devices(self, gpu: GpuInfo) -> list[GpuInfo]:
        """The MIG instances of a GPU in MIG mode; [] for a GPU that is not (or cannot be)."""
        m = self.module
        with self._translated(f"list the MIG instances of GPU {gpu.index}"):
            handle = self._handle(gpu.uuid)
            mode = self._optional(lambda: m.nvmlDeviceGetMigMode(handle))
            if mode is None or int(mode[0]) != int(getattr(m, "NVML_DEVICE_MIG_ENABLE", 1)):
                return []
            found = []
            for slot in range(int(m.nvmlDeviceGetMaxMigDeviceCount(handle))):
                try:
                    mig = m.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                except m.NVMLError_NotFound:
                    continue  # an empty slot
                uuid = str(m.nvmlDeviceGetUUID(mig))
                with self._lock:
                    self._handles[uuid] = mig
                memory = m.nvmlDeviceGetMemoryInfo(mig)
                instance = self._gpu_instance(mig)
                found.append(
                    GpuInfo(
                        gpu.index,
                        uuid,
                        str(m.nvmlDeviceGetName(mig)),
                        int(memory.total) // MIB,
                        parent_uuid=gpu.uuid,
                        mig_instance=slot if instance is None else instance,
                    )
                )
            return found

    def resolve(self, spec: str) -> GpuInfo:
        """The GPU a `--gpu` spec names: an NVML index ("0"), a GPU UUID ("GPU-…") or a MIG UUID ("MIG-…").

        BadInputError names the spec and lists the GPUs found when nothing matches, and when the
        spec names a whole GPU that is in MIG mode (CUDA can only use one of its instances).
        """
        text = spec.strip()
        gpus = self.gpus()
        everything = [*gpus, *(mig for gpu in gpus for mig in self.mig_devices(gpu))]
        found = "; ".join(g.describe() for g in everything) or "none"
        if text.isdigit():
            match = next((g for g in gpus if g.index == int(text)), None)
        elif text.upper().startswith(("GPU-", "MIG-")):
            match = next((g for g in everything if g.uuid.lower() == text.lower()), None)
            if match is None:
                # The driver also knows other spellings (the old `MIG-GPU-<uuid>/<gi>/<ci>` form).
                canonical = self._canonical_uuid(text)
                match = next((g for g in everything if g.uuid == canonical), None)
        else:
            raise BadInputError(f"--gpu {spec!r}: expected an index, a GPU-… UUID or a MIG-… UUID; found: {found}")
        if match is None:
            raise BadInputError(f"--gpu {spec!r} matches no GPU on this host; found: {found}")
        migs = [g for g in everything if g.parent_uuid == match.uuid]
        if migs:
            raise BadInputError(
                f"--gpu {spec!r}: GPU {match.index} is in MIG mode; pin one of its MIG instances: "
                + "; ".join(g.describe() for g in migs)
            )
        return match

    def _gpu_instance(self, mig: Any) -> int | None:
        try:
            return int(self.module.nvmlDeviceGetGpuInstanceId(mig))
        except self._unavailable:
            return None

    def _canonical_uuid(self, text: str) -> str | None:
        m = self.module
        try:
            return str(m.nvmlDeviceGetUUID(m.nvmlDeviceGetHandleByUUID(text)))
        except m.NVMLError:
            return None

    # ------------------------------------------------------------------ sampling

    def sample(self, gpu: GpuInfo, pids: Collection[int] | None = None) -> GpuSample:
        """One reading of `gpu`; `pids` are the worker's own processes (None: don't look up processes).

        GpuReadError when the GPU cannot be read at all; a reading the board lacks is None.
        """
        m = self.module
        with self._translated(f"read GPU {gpu.uuid}"):
            handle = self._handle(gpu.uuid)
            board = self._handle(gpu.parent_uuid) if gpu.parent_uuid else handle
            sampled_at = datetime.now(UTC)
            memory = self._memory(handle)
            utilization = self._field("utilization", lambda: m.nvmlDeviceGetUtilizationRates(handle))
            power_mw = self._field("power", lambda: m.nvmlDeviceGetPowerUsage(board))
            return GpuSample(
                gpu_index=gpu.index,
                gpu_uuid=gpu.uuid,
                name=gpu.name,
                sampled_at=sampled_at,
                fb_used_mib=None if memory is None else int(memory.used) // MIB,
                fb_free_mib=None if memory is None else int(memory.free) // MIB,
                fb_total_mib=None if memory is None else int(memory.total) // MIB,
                gpu_util_pct=None if utilization is None else int(utilization.gpu),
                mem_copy_util_pct=None if utilization is None else int(utilization.memory),
                gpu_temp_c=self._field(
                    "temperature", lambda: int(m.nvmlDeviceGetTemperature(board, m.NVML_TEMPERATURE_GPU))
                ),
                memory_temp_c=self._field("memory temperature", lambda: self._memory_temp(board)),
                power_w=None if power_mw is None else round(int(power_mw) / 1000.0, 3),
                energy_mj=self._field("energy", lambda: int(m.nvmlDeviceGetTotalEnergyConsumption(board))),
                throttle_reasons=self._field("throttle reasons", lambda: self._throttle_reasons(board)),
                process_vram_mib=self._field("processes", lambda: self._vram_of(handle, pids)),
            )

    def _memory(self, handle: Any) -> Any:
        """NVML's memory info, v2 where the driver has it (`used` then excludes reserved memory, as in DCGM)."""
        m = self.module
        version = getattr(m, "nvmlMemory_v2", None)
        if version is not None and self._memory_v2 is not False:
            try:
                info = m.nvmlDeviceGetMemoryInfo(handle, version=version)
                self._memory_v2 = True
                return info
            except self._no_memory_v2:
                self._memory_v2 = False  # an old driver (or module) without v2: use v1 from now on
        try:
            return m.nvmlDeviceGetMemoryInfo(handle)
        except self._unavailable:
            return None

    def _memory_temp(self, handle: Any) -> int | None:
        m = self.module
        value = m.nvmlDeviceGetFieldValues(handle, [m.NVML_FI_DEV_MEMORY_TEMP])[0]
        if int(value.nvmlReturn) != int(m.NVML_SUCCESS):
            return None  # the field's own return code: NOT_SUPPORTED on boards without a memory sensor
        for constant, member in _VALUE_MEMBERS.items():
            if int(value.valueType) == int(getattr(m, constant, -1)):
                return int(getattr(value.value, member))
        return None

    def _throttle_reasons(self, handle: Any) -> int | None:
        # NVML 12.2 renamed "throttle reasons" to "clocks event reasons"; older drivers only have the old name.
        m = self.module
        for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
            function = getattr(m, name, None)
            if function is None:
                continue
            try:
                return int(function(handle))
            except self._unavailable:
                continue
        return None

    def _vram_of(self, handle: Any, pids: Collection[int] | None) -> int | None:
        """MiB held by `pids` on this GPU; None when not asked or the driver hides the amounts."""
        if pids is None:
            return None
        mine = [p for p in self.module.nvmlDeviceGetComputeRunningProcesses(handle) if int(p.pid) in pids]
        amounts = [p.usedGpuMemory for p in mine if p.usedGpuMemory is not None]
        if mine and not amounts:
            return None
        return sum(int(a) for a in amounts) // MIB

    def _field(self, what: str, read: Callable[[], T]) -> T | None:
        """A secondary reading: None when unsupported, None and one log line on another NVML error."""
        try:
            return read()
        except self._unavailable:
            return None
        except self._lost:
            raise
        except self.module.NVMLError as exc:
            key = (what, type(exc).__name__)
            if key not in self._logged:
                self._logged.add(key)
                log.warning("gpu: cannot read %s (%s: %s); reported as unknown", what, type(exc).__name__, exc)
            return None

    def _optional(self, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except self._unavailable:
            return None

    def _handle(self, uuid: str) -> Any:
        with self._lock:
            handle = self._handles.get(uuid)
        if handle is None:
            handle = self.module.nvmlDeviceGetHandleByUUID(uuid)
            with self._lock:
                self._handles[uuid] = handle
        return handle

    @contextlib.contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turns an NVML error escaping the block into GpuReadError (the error tree's boundary)."""
        try:
            yield
        except self.module.NVMLError as exc:
            kind = type(exc).__name__
            raise GpuReadError(f"NVML cannot {doing}: {kind}: {_text(exc)}", kind) from exc
