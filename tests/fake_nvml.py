"""A fake NVML for unit tests: an object with pynvml's function names, constants and error classes.

This is a test tool. `FakeNvml` stands where `workers.gpu.nvml` expects the `pynvml` module, so
listing, pinning, sampling and back-pressure run on a host with no GPU. Semantics copied from
nvidia-ml-py (checked against 13.x):

- every call but nvmlInit raises NVMLError_Uninitialized until nvmlInit (and after nvmlShutdown);
- handles are opaque: here they are the `FakeGpu` objects themselves;
- UUIDs and names are str; memory in bytes (v1 info without `reserved`, v2 with it when called
  with `version=nvmlMemory_v2`); power in mW; energy in mJ, increasing on each read;
- nvmlDeviceGetFieldValues returns one record per field id with its own `nvmlReturn`
  (NVML_ERROR_NOT_SUPPORTED for memory temperature when `memory_temp` is None);
- processes have `pid` and `usedGpuMemory` (bytes, or None where the driver hides it).

Faults: `gpu.unsupported` (function names that raise NVMLError_NotSupported), `gpu.errors`
(function name -> exception to raise), `FakeNvml(init_error=...)`, `has_event_reasons=False`
(an older driver: nvmlDeviceGetCurrentClocksEventReasons raises NVMLError_FunctionNotFound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

GIB = 1024**3
MIB = 1024**2


class NVMLError(Exception):
    """Base of the fake's errors, like pynvml.NVMLError (`value` is NVML's return code)."""

    code: ClassVar[int] = 999
    message: ClassVar[str] = "Unknown Error"

    def __init__(self, value: int | None = None) -> None:
        self.value = self.code if value is None else value
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NVMLError_Uninitialized(NVMLError):
    code, message = 1, "Uninitialized"


class NVMLError_InvalidArgument(NVMLError):
    code, message = 2, "Invalid Argument"


class NVMLError_NotSupported(NVMLError):
    code, message = 3, "Not Supported"


class NVMLError_NoPermission(NVMLError):
    code, message = 4, "Insufficient Permissions"


class NVMLError_NotFound(NVMLError):
    code, message = 6, "Not Found"


class NVMLError_DriverNotLoaded(NVMLError):
    code, message = 9, "Driver Not Loaded"


class NVMLError_LibraryNotFound(NVMLError):
    code, message = 12, "NVML Shared Library Not Found"


class NVMLError_FunctionNotFound(NVMLError):
    code, message = 13, "Function Not Found"


class NVMLError_GpuIsLost(NVMLError):
    code, message = 15, "GPU is lost"


class NVMLError_Unknown(NVMLError):
    code, message = 999, "Unknown Error"


@dataclass
class FakeGpu:
    """One fake GPU (or MIG instance: then `parent` is set); every reading can be changed by a test."""

    uuid: str
    name: str = "NVIDIA Fake GPU"
    memory_total: int = 24 * GIB
    memory_used: int = 2 * GIB
    memory_reserved: int = 256 * MIB
    gpu_util: int = 10
    memory_util: int = 5
    gpu_temp: int = 45
    memory_temp: int | None = 50
    power_mw: int = 120_500
    energy_mj: int = 1_000_000
    energy_step_mj: int = 1_000
    throttle_reasons: int = 0
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, used bytes or None)."""
    unsupported: set[str] = field(default_factory=set)
    errors: dict[str, Exception] = field(default_factory=dict)
    migs: list[FakeGpu] = field(default_factory=list)
    """MIG instances; a GPU with any is in MIG mode."""
    gpu_instance_id: int = 0
    parent: FakeGpu | None = None

    def __post_init__(self) -> None:
        for mig in self.migs:
            mig.parent = self

    @property
    def memory_free(self) -> int:
        return self.memory_total - self.memory_used - self.memory_reserved


class FakeNvml:
    """Stands for the `pynvml` module: pass an instance to `open_nvml(module=...)`."""

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_Unknown = NVMLError_Unknown

    NVML_SUCCESS = 0
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_TEMPERATURE_GPU = 0
    NVML_FI_DEV_MEMORY_TEMP = 82
    NVML_DEVICE_MIG_DISABLE = 0
    NVML_DEVICE_MIG_ENABLE = 1
    NVML_VALUE_TYPE_DOUBLE = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
    NVML_VALUE_TYPE_SIGNED_INT = 5
    NVML_VALUE_TYPE_UNSIGNED_SHORT = 6
    nvmlMemory_v2 = 0x02000028

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        init_error: Exception | None = None,
        has_event_reasons: bool = True,
    ) -> None:
        self.gpus = list(gpus) if gpus is not None else []
        self.init_error = init_error
        self.has_event_reasons = has_event_reasons
        self.initialised = False
        self.calls: list[str] = []

    @classmethod
    def with_gpus(cls, count: int, **kwargs: Any) -> FakeNvml:
        """`count` GPUs with UUIDs GPU-00000000-…-000000000000, GPU-…-000000000001, …"""
        return cls(
            [FakeGpu(uuid=f"GPU-00000000-0000-0000-0000-{i:012d}", name=f"NVIDIA Fake GPU {i}") for i in range(count)],
            **kwargs,
        )

    # ------------------------------------------------------------------ plumbing

    def _enter(self, function: str, handle: FakeGpu | None = None) -> None:
        self.calls.append(function)
        if not self.initialised:
            raise NVMLError_Uninitialized()
        if handle is not None:
            if function in handle.errors:
                raise handle.errors[function]
            if function in handle.unsupported:
                raise NVMLError_NotSupported()

    def _all(self) -> list[FakeGpu]:
        return [*self.gpus, *(mig for gpu in self.gpus for mig in gpu.migs)]

    # ------------------------------------------------------------------ pynvml's functions

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument()
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByUUID")
        for gpu in self._all():
            if gpu.uuid == uuid:
                return gpu
            # the driver also accepts the old MIG form: MIG-<parent GPU uuid>/<gi>/<ci>
            if gpu.parent is not None and uuid == f"MIG-{gpu.parent.uuid}/{gpu.gpu_instance_id}/0":
                return gpu
        raise NVMLError_NotFound()

    def nvmlDeviceGetIndex(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetIndex", handle)
        return self.gpus.index(handle.parent or handle)

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        self._enter("nvmlDeviceGetUUID", handle)
        return handle.uuid

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        self._enter("nvmlDeviceGetName", handle)
        return handle.name

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu, version: int | None = None) -> SimpleNamespace:
        self._enter("nvmlDeviceGetMemoryInfo", handle)
        if version is None:
            # v1: `used` includes the driver's reserved memory
            return SimpleNamespace(
                total=handle.memory_total, free=handle.memory_free, used=handle.memory_total - handle.memory_free
            )
        if "nvmlDeviceGetMemoryInfo_v2" in handle.unsupported:
            raise NVMLError_FunctionNotFound()
        return SimpleNamespace(
            version=version,
            total=handle.memory_total,
            reserved=handle.memory_reserved,
            free=handle.memory_free,
            used=handle.memory_used,
        )

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=handle.gpu_util, memory=handle.memory_util)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", handle)
        if sensor != self.NVML_TEMPERATURE_GPU:
            raise NVMLError_InvalidArgument()
        return handle.gpu_temp

    def nvmlDeviceGetFieldValues(self, handle: FakeGpu, field_ids: list[int]) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetFieldValues", handle)
        values = []
        for field_id in field_ids:
            supported = field_id == self.NVML_FI_DEV_MEMORY_TEMP and handle.memory_temp is not None
            values.append(
                SimpleNamespace(
                    fieldId=field_id,
                    scopeId=0,
                    timestamp=0,
                    latencyUsec=0,
                    valueType=self.NVML_VALUE_TYPE_UNSIGNED_INT,
                    nvmlReturn=self.NVML_SUCCESS if supported else self.NVML_ERROR_NOT_SUPPORTED,
                    value=SimpleNamespace(
                        dVal=0.0, uiVal=handle.memory_temp or 0, ulVal=0, ullVal=0, sllVal=0, siVal=0, usVal=0
                    ),
                )
            )
        return values

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        return handle.power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption", handle)
        handle.energy_mj += handle.energy_step_mj
        return handle.energy_mj

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrentClocksEventReasons", handle)
        if not self.has_event_reasons:
            raise NVMLError_FunctionNotFound()
        return handle.throttle_reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        return handle.throttle_reasons

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeGpu) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetComputeRunningProcesses", handle)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in handle.processes]

    def nvmlDeviceIsMigDeviceHandle(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceIsMigDeviceHandle", handle)
        return int(handle.parent is not None)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: FakeGpu) -> FakeGpu:
        self._enter("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", handle)
        if handle.parent is None:
            raise NVMLError_InvalidArgument()
        return handle.parent

    def nvmlDeviceGetMigMode(self, handle: FakeGpu) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = self.NVML_DEVICE_MIG_ENABLE if handle.migs else self.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return 7 if handle.migs else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeGpu, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        if index >= len(handle.migs):
            raise NVMLError_NotFound()  # an empty slot, as on a real GPU with fewer instances than slots
        return handle.migs[index]

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeGpu) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        if handle.parent is None:
            raise NVMLError_InvalidArgument()
        return handle.gpu_instance_id
