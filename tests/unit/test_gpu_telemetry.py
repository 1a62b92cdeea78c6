"""The telemetry thread: latest sample to a Redis-like sink with a TTL, history and prune, VRAM peaks, no crash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shared.errors import StorageUnavailableError
from tests.fake_nvml import GIB, FakeNvml, NVMLError_GpuIsLost
from workers.gpu.nvml import GpuReadError, open_nvml
from workers.gpu.sample import GpuSample
from workers.gpu.telemetry import TelemetrySampler, nvml_reader, own_pids, redis_key

UUID = "GPU-00000000-0000-0000-0000-000000000000"


class MemoryRedis:
    """A sink stub with redis-py's `set(name, value, ex=...)`."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.ttls: dict[str, int | None] = {}
        self.writes = 0
        self.fail: Exception | None = None

    def set(self, name: str, value: str, ex: int | None = None) -> bool:
        if self.fail is not None:
            raise self.fail
        self.values[name] = value
        self.ttls[name] = ex
        self.writes += 1
        return True


def _sample(fb_used_mib: int | None = 1000) -> GpuSample:
    return GpuSample(0, UUID, "NVIDIA Fake GPU", datetime.now(UTC), fb_used_mib=fb_used_mib, fb_total_mib=24576)


class Script:
    """A `read` callable answering from a list: a sample, an fb_used value, or an exception to raise."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> GpuSample:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step if isinstance(step, GpuSample) else _sample(step)  # type: ignore[arg-type]


def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_redis_key() -> None:
    assert redis_key("host1", UUID) == f"ragfleet:gpu:host1:{UUID}"


def test_one_cycle_writes_latest_to_redis_with_ttl_and_appends_history() -> None:
    redis = MemoryRedis()
    history: list[GpuSample] = []
    sampler = TelemetrySampler(
        Script(4321), host="host1", interval_s=5, redis=redis, redis_ttl_s=60, worker="7b-gpu0@host1",
        history=history.append,
    )  # fmt: skip
    sample = sampler.sample_once()
    key = redis_key("host1", UUID)
    assert sample is not None and sampler.latest == sample
    assert redis.ttls == {key: 60}
    stored = json.loads(redis.values[key])
    assert stored["fb_used_mib"] == 4321 and stored["host"] == "host1" and stored["worker"] == "7b-gpu0@host1"
    assert GpuSample.from_redis(redis.values[key]) == sample
    assert history == [sample]


def test_the_thread_samples_on_its_interval_until_stopped() -> None:
    redis = MemoryRedis()
    history: list[GpuSample] = []
    sampler = TelemetrySampler(Script(1000), host="h", interval_s=0.01, redis=redis, history=history.append)
    sampler.start()
    try:
        assert sampler.running
        _wait_for(lambda: redis.writes >= 3)
    finally:
        sampler.stop()
    assert not sampler.running
    writes = redis.writes
    time.sleep(0.05)
    assert redis.writes == writes  # stopped means stopped
    assert len(history) == writes == sampler.samples
    with pytest.raises(RuntimeError):
        sampler.start()


def test_stop_does_not_wait_out_a_long_interval() -> None:
    sampler = TelemetrySampler(Script(1000), host="h", interval_s=3600)
    sampler.start()
    _wait_for(lambda: sampler.samples == 1)
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1 and not sampler.running


def test_nvml_errors_never_kill_the_thread_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    lost = GpuReadError("NVML cannot read GPU x: NVMLError_GpuIsLost: GPU is lost", "NVMLError_GpuIsLost")
    read = Script(lost, lost, lost, lost, 1000)
    redis = MemoryRedis()
    sampler = TelemetrySampler(read, host="h", interval_s=0.005, redis=redis)
    sampler.start()
    try:
        _wait_for(lambda: redis.writes >= 2)
        assert sampler.running
    finally:
        sampler.stop()
    assert sampler.errors == {"read:NVMLError_GpuIsLost": 4}
    assert len([r for r in caplog.records if "gpu telemetry: read failed" in r.getMessage()]) == 1


def test_a_failing_sink_or_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    redis = MemoryRedis()
    seen: list[GpuSample] = []
    redis.fail = ConnectionError("redis://:hunter2@broker:6379/0 refused")

    def history(sample: GpuSample) -> None:
        raise StorageUnavailableError("database postgresql://u:secret@db/x is unreachable")

    def bad_listener(sample: GpuSample) -> None:
        raise ValueError("boom")

    sampler = TelemetrySampler(
        Script(1000), host="h", interval_s=1, redis=redis, history=history, listeners=[bad_listener, seen.append]
    )
    for _ in range(3):
        assert sampler.sample_once() is not None
    assert len(seen) == 3
    assert sampler.errors == {
        "redis:ConnectionError": 3,
        "history:StorageUnavailableError": 3,
        "listener:ValueError": 3,
    }
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("gpu telemetry")]
    assert len(messages) == 3
    assert not any("hunter2" in m or "secret" in m for m in messages)


def test_prune_runs_at_start_then_once_per_period() -> None:
    pruned: list[int] = []

    def prune(tag: int) -> Callable[[], int]:
        def run() -> int:
            pruned.append(tag)
            return 0

        return run

    sampler = TelemetrySampler(Script(1000), host="h", interval_s=1, prune=prune(1))
    for _ in range(3):
        sampler.sample_once()
    assert pruned == [1]
    always = TelemetrySampler(Script(1000), host="h", interval_s=1, prune=prune(2), prune_every_s=0)
    always.sample_once()
    always.sample_once()
    assert pruned == [1, 2, 2]


def test_peak_since_a_token_is_the_highest_fb_used_seen() -> None:
    sampler = TelemetrySampler(Script(1000, 5000, None, 3000, 2000), host="h", interval_s=1, sample_peak_edges=False)
    sampler.sample_once()  # 1000: before the window
    token = sampler.start_peak()
    sampler.sample_once()  # 5000
    late = sampler.start_peak()
    sampler.sample_once()  # None: unknown, ignored
    sampler.sample_once()  # 3000
    assert sampler.stop_peak(token) == 5000
    assert sampler.stop_peak(late) == 3000
    assert sampler.stop_peak(token) is None  # a token is used once


def test_measure_peak_reads_at_both_edges_so_a_short_task_gets_a_value() -> None:
    read = Script(7000, 9000, 8000)
    sampler = TelemetrySampler(read, host="h", interval_s=3600)
    with sampler.measure_peak() as window:
        assert window.peak_mib is None
    assert window.peak_mib == 9000
    assert read.calls == 2 and sampler.samples == 0  # edge readings are not published samples


def test_measure_peak_without_any_reading_is_none() -> None:
    sampler = TelemetrySampler(Script(GpuReadError("gone", "NVMLError_GpuIsLost")), host="h", interval_s=1)
    with sampler.measure_peak() as window:
        pass
    assert window.peak_mib is None


def test_sampler_over_fake_nvml_end_to_end() -> None:
    fake = FakeNvml.with_gpus(1)
    fake.gpus[0].memory_used = 6 * GIB
    nvml = open_nvml(fake)
    assert nvml is not None
    gpu = nvml.resolve("0")
    redis = MemoryRedis()
    sampler = TelemetrySampler(nvml_reader(nvml, gpu), host="h1", interval_s=1, redis=redis, redis_ttl_s=30)
    with sampler.measure_peak() as window:
        fake.gpus[0].memory_used = 9 * GIB
        sampler.sample_once()
        fake.gpus[0].memory_used = 7 * GIB
    assert window.peak_mib == 9 * 1024
    stored = json.loads(redis.values[redis_key("h1", gpu.uuid)])
    assert stored["fb_used_mib"] == 9 * 1024 and stored["process_vram_mib"] == 0
    fake.gpus[0].errors["nvmlDeviceGetMemoryInfo"] = NVMLError_GpuIsLost()
    assert sampler.sample_once() is None
    assert sampler.errors == {"read:NVMLError_GpuIsLost": 1}


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TelemetrySampler(Script(1), host="h", interval_s=0)


def test_own_pids_holds_this_process_and_its_children() -> None:
    sleep = shutil.which("sleep")
    if sleep is None or not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
        pytest.skip("needs /proc/<pid>/task/<tid>/children and sleep(1)")
    child = subprocess.Popen([sleep, "30"])
    try:
        assert {os.getpid(), child.pid} <= own_pids()
    finally:
        child.kill()
        child.wait()
    assert own_pids(root=2**22 + 12345) == {2**22 + 12345}  # a pid that does not exist: just itself
