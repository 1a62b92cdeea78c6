"""One reading of one GPU, with field names and units taken from NVIDIA's DCGM exporter.

Why DCGM's names: an operator who already scrapes `dcgm-exporter` on the same hosts can put
ragfleet's gauges on the same dashboards, and its units are the ones people expect of a GPU:
framebuffer memory in MiB (DCGM_FI_DEV_FB_*), utilisation in %, temperatures in °C, power in W
(NVML reports mW), the energy counter in mJ since the driver loaded, throttle reasons as NVML's
bitmask. `DCGM_METRICS` maps each exporter metric name to the `GpuSample` field that holds it, so
a Prometheus exporter needs no table of its own.

A field is None when the driver does not expose it (NVML answers NotSupported: memory temperature
on GDDR boards, utilisation of a MIG instance, per-process VRAM inside some containers); None
means "unknown", never 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Literal

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU (a whole GPU, or a MIG instance: then memory is the instance's)."""

    gpu_index: int
    """NVML's index of the physical GPU (PCI bus order, the same as nvidia-smi)."""
    gpu_uuid: str
    """`GPU-…`, or `MIG-…` for a MIG instance: the name the worker was pinned by."""
    name: str
    sampled_at: datetime
    """When the reading was taken (UTC)."""
    fb_used_mib: int | None = None
    fb_free_mib: int | None = None
    fb_total_mib: int | None = None
    gpu_util_pct: int | None = None
    mem_copy_util_pct: int | None = None
    gpu_temp_c: int | None = None
    memory_temp_c: int | None = None
    power_w: float | None = None
    energy_mj: int | None = None
    """Energy since the driver was loaded: a counter, so rates come from differences."""
    throttle_reasons: int | None = None
    """NVML's clocks-event (throttle) reasons bitmask; 0 means the clocks run free."""
    process_vram_mib: int | None = None
    """VRAM held by this worker's own processes (0 when it holds none; None when NVML can't tell)."""

    @property
    def vram_used_pct(self) -> float | None:
        """How full the framebuffer is, reserved memory counted as used (what a new allocation sees)."""
        if self.fb_total_mib is None or self.fb_total_mib <= 0:
            return None
        if self.fb_free_mib is not None:
            return 100.0 * (self.fb_total_mib - self.fb_free_mib) / self.fb_total_mib
        if self.fb_used_mib is not None:
            return 100.0 * self.fb_used_mib / self.fb_total_mib
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the field names as keys, `sampled_at` in ISO 8601."""
        data = asdict(self)
        data["sampled_at"] = self.sampled_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuSample:
        """The inverse of `to_dict`; keys that are not fields (host, worker) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["sampled_at"] = datetime.fromisoformat(str(values["sampled_at"]))
        return cls(**values)

    def to_redis(self, *, host: str | None = None, worker: str | None = None) -> str:
        """The JSON stored as the GPU's latest sample in Redis (with who wrote it, when given)."""
        data = self.to_dict()
        if host is not None:
            data["host"] = host
        if worker is not None:
            data["worker"] = worker
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_redis(cls, text: str | bytes) -> GpuSample:
        """A sample read back from Redis."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a GPU sample is a JSON object")
        return cls.from_dict(data)

    def dcgm_values(self) -> dict[str, float]:
        """DCGM exporter metric name -> value, leaving out what this GPU does not expose."""
        values: dict[str, float] = {}
        for metric, spec in DCGM_METRICS.items():
            value = getattr(self, spec.field)
            if value is not None:
                values[metric] = float(value)
        return values

    def dcgm_labels(self, host: str) -> dict[str, str]:
        """The labels dcgm-exporter puts on every series, for this GPU."""
        return {"gpu": str(self.gpu_index), "UUID": self.gpu_uuid, "modelName": self.name, "Hostname": host}


@dataclass(frozen=True)
class MetricSpec:
    """How one exporter metric is read from a `GpuSample`."""

    field: str
    unit: str
    type: Literal["gauge", "counter"]
    help: str


DCGM_METRICS: dict[str, MetricSpec] = {
    "DCGM_FI_DEV_FB_USED": MetricSpec("fb_used_mib", "MiB", "gauge", "Framebuffer memory used (in MiB)."),
    "DCGM_FI_DEV_FB_FREE": MetricSpec("fb_free_mib", "MiB", "gauge", "Framebuffer memory free (in MiB)."),
    "DCGM_FI_DEV_FB_TOTAL": MetricSpec("fb_total_mib", "MiB", "gauge", "Framebuffer memory in total (in MiB)."),
    "DCGM_FI_DEV_GPU_UTIL": MetricSpec("gpu_util_pct", "%", "gauge", "GPU utilization (in %)."),
    "DCGM_FI_DEV_MEM_COPY_UTIL": MetricSpec("mem_copy_util_pct", "%", "gauge", "Memory utilization (in %)."),
    "DCGM_FI_DEV_GPU_TEMP": MetricSpec("gpu_temp_c", "C", "gauge", "GPU temperature (in C)."),
    "DCGM_FI_DEV_MEMORY_TEMP": MetricSpec("memory_temp_c", "C", "gauge", "Memory temperature (in C)."),
    "DCGM_FI_DEV_POWER_USAGE": MetricSpec("power_w", "W", "gauge", "Power draw (in W)."),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": MetricSpec(
        "energy_mj", "mJ", "counter", "Total energy consumption since the driver was loaded (in mJ)."
    ),
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": MetricSpec(
        "throttle_reasons", "bitmask", "gauge", "Current clock throttle reasons (bitmask of NVML's reasons)."
    ),
}
"""DCGM exporter metric name -> the `GpuSample` field, unit, Prometheus type and help text."""

RAGFLEET_GPU_METRICS: dict[str, MetricSpec] = {
    "ragfleet_gpu_worker_fb_used_mib": MetricSpec(
        "process_vram_mib", "MiB", "gauge", "VRAM held by the worker's own processes (in MiB)."
    ),
}
"""What DCGM has no exporter metric for, under ragfleet's own prefix."""
