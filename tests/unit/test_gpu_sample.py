"""A GPU sample: DCGM exporter names and units, and its JSON form in Redis."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from workers.gpu.sample import DCGM_METRICS, RAGFLEET_GPU_METRICS, GpuSample

AT = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _sample(**changes: object) -> GpuSample:
    base = GpuSample(
        gpu_index=0, gpu_uuid="GPU-x", name="NVIDIA H100", sampled_at=AT, fb_used_mib=60000, fb_free_mib=20000,
        fb_total_mib=81559, gpu_util_pct=93, mem_copy_util_pct=41, gpu_temp_c=66, memory_temp_c=None, power_w=412.5,
        energy_mj=123_456_789, throttle_reasons=4, process_vram_mib=0,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_every_metric_maps_to_a_sample_field() -> None:
    names = {f.name for f in dataclasses.fields(GpuSample)}
    for metric, spec in {**DCGM_METRICS, **RAGFLEET_GPU_METRICS}.items():
        assert spec.field in names, metric
    assert all(m.startswith("DCGM_FI_DEV_") for m in DCGM_METRICS)
    assert DCGM_METRICS["DCGM_FI_DEV_FB_USED"].unit == "MiB"
    assert DCGM_METRICS["DCGM_FI_DEV_POWER_USAGE"].unit == "W"
    assert DCGM_METRICS["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].type == "counter"


def test_dcgm_values_leave_out_unknown_readings() -> None:
    values = _sample().dcgm_values()
    assert values["DCGM_FI_DEV_FB_USED"] == 60000 and values["DCGM_FI_DEV_POWER_USAGE"] == 412.5
    assert "DCGM_FI_DEV_MEMORY_TEMP" not in values
    assert _sample().dcgm_labels("h1") == {"gpu": "0", "UUID": "GPU-x", "modelName": "NVIDIA H100", "Hostname": "h1"}


def test_redis_json_round_trip_with_host_and_worker() -> None:
    sample = _sample()
    text = sample.to_redis(host="h1", worker="7b-gpu0@h1")
    data = json.loads(text)
    assert data["host"] == "h1" and data["worker"] == "7b-gpu0@h1"
    assert data["sampled_at"] == "2025-01-02T03:04:05.678000+00:00" and data["memory_temp_c"] is None
    assert GpuSample.from_redis(text) == sample
    assert GpuSample.from_redis(text.encode()) == sample


def test_vram_used_pct_counts_reserved_memory_as_used() -> None:
    assert _sample(fb_total_mib=1000, fb_free_mib=100, fb_used_mib=850).vram_used_pct == 90.0
    assert _sample(fb_total_mib=1000, fb_free_mib=None, fb_used_mib=850).vram_used_pct == 85.0
    assert _sample(fb_total_mib=None).vram_used_pct is None
    assert _sample(fb_total_mib=0).vram_used_pct is None
