"""NVML through the wrapper, against the fake module: opening, listing, resolving --gpu, sampling."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from shared.errors import BadInputError
from tests.fake_nvml import (
    GIB,
    MIB,
    FakeGpu,
    FakeNvml,
    NVMLError_GpuIsLost,
    NVMLError_LibraryNotFound,
    NVMLError_Unknown,
)
from workers.gpu.nvml import GpuReadError, Nvml, open_nvml

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
UUID1 = "GPU-00000000-0000-0000-0000-000000000001"


def _gpu_none_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("gpu: none")]


def test_the_fake_uses_pynvmls_names_and_constants() -> None:
    import pynvml

    public = [n for n in dir(FakeNvml) if n.startswith(("nvml", "NVML"))]
    assert len(public) > 30
    missing = [n for n in public if not hasattr(pynvml, n)]
    assert missing == []
    for name in public:
        if name.startswith("NVML_") or name == "nvmlMemory_v2":
            assert getattr(FakeNvml, name) == getattr(pynvml, name), name
    for name in dir(FakeNvml):
        if name.startswith("NVMLError_"):
            assert getattr(pynvml, name)().value == getattr(FakeNvml, name)().value, name


def test_open_nvml_with_gpus_starts_nvml_and_shuts_it_down() -> None:
    fake = FakeNvml.with_gpus(2)
    opened = open_nvml(fake)
    assert isinstance(opened, Nvml)
    with opened:
        assert fake.initialised
    assert not fake.initialised and fake.calls.count("nvmlShutdown") == 1


def test_no_nvml_library_is_gpu_none_in_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert open_nvml(FakeNvml.with_gpus(1, init_error=NVMLError_LibraryNotFound())) is None
    lines = _gpu_none_lines(caplog)
    assert len(lines) == 1
    assert "NVML library not found" in lines[0]


def test_no_gpu_is_gpu_none_and_nvml_is_shut_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeNvml([])
    assert open_nvml(fake) is None
    assert not fake.initialised
    assert ["found no GPU" in line for line in _gpu_none_lines(caplog)] == [True]


def test_nvidia_ml_py_not_installed_is_gpu_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    assert open_nvml() is None
    assert ["nvidia-ml-py is not installed" in line for line in _gpu_none_lines(caplog)] == [True]


def test_real_pynvml_on_this_host_gives_none_or_nvml() -> None:
    # Whatever the host: no exception, and None exactly when there is no usable GPU.
    nvml = open_nvml()
    if nvml is not None:
        assert nvml.gpus()
        nvml.close()


def test_gpus_are_listed_with_index_uuid_name_and_memory() -> None:
    fake = FakeNvml.with_gpus(2)
    fake.gpus[1].memory_total = 80 * GIB
    gpus = Nvml(_started(fake)).gpus()
    assert [(g.index, g.uuid, g.name, g.memory_total_mib) for g in gpus] == [
        (0, UUID0, "NVIDIA Fake GPU 0", 24 * 1024),
        (1, UUID1, "NVIDIA Fake GPU 1", 80 * 1024),
    ]


@pytest.mark.parametrize("spec", ["1", " 1 ", UUID1, UUID1.lower(), UUID1.upper().replace("GPU-", "gpu-")])
def test_resolve_by_index_or_uuid(spec: str) -> None:
    nvml = Nvml(_started(FakeNvml.with_gpus(2)))
    gpu = nvml.resolve(spec)
    assert (gpu.index, gpu.uuid) == (1, UUID1)


@pytest.mark.parametrize("spec", ["2", "GPU-ffffffff-0000-0000-0000-000000000000", "MIG-nope"])
def test_resolve_no_match_names_the_spec_and_the_gpus_found(spec: str) -> None:
    nvml = Nvml(_started(FakeNvml.with_gpus(2)))
    with pytest.raises(BadInputError) as caught:
        nvml.resolve(spec)
    text = str(caught.value)
    assert repr(spec) in text and "matches no GPU" in text
    assert f"0 {UUID0} (NVIDIA Fake GPU 0, 24576 MiB)" in text and UUID1 in text


@pytest.mark.parametrize("spec", ["", "first", "-1", "cuda:0"])
def test_resolve_rejects_what_is_not_an_index_or_uuid(spec: str) -> None:
    with pytest.raises(BadInputError, match="expected an index, a GPU-… UUID or a MIG-… UUID"):
        Nvml(_started(FakeNvml.with_gpus(1))).resolve(spec)


def _mig_fake() -> FakeNvml:
    migs = [
        FakeGpu(uuid="MIG-aaaaaaaa-0000-0000-0000-000000000001", name="Fake MIG 1g.10gb", memory_total=10 * GIB,
                gpu_instance_id=7, memory_used=1 * GIB),
        FakeGpu(uuid="MIG-aaaaaaaa-0000-0000-0000-000000000002", name="Fake MIG 3g.40gb", memory_total=40 * GIB,
                gpu_instance_id=1),
    ]  # fmt: skip
    return FakeNvml([FakeGpu(uuid=UUID0), FakeGpu(uuid=UUID1, memory_total=80 * GIB, migs=migs)])


def test_resolve_a_mig_instance_by_its_uuid_and_the_old_form() -> None:
    nvml = Nvml(_started(_mig_fake()))
    mig = nvml.resolve("MIG-aaaaaaaa-0000-0000-0000-000000000001")
    assert (mig.index, mig.parent_uuid, mig.mig_instance, mig.memory_total_mib) == (1, UUID1, 7, 10 * 1024)
    assert mig.is_mig
    assert nvml.resolve(f"MIG-{UUID1}/7/0") == mig


@pytest.mark.parametrize("spec", ["1", UUID1])
def test_resolve_a_whole_gpu_in_mig_mode_asks_for_an_instance(spec: str) -> None:
    with pytest.raises(BadInputError, match="in MIG mode; pin one of its MIG instances") as caught:
        Nvml(_started(_mig_fake())).resolve(spec)
    assert "MIG-aaaaaaaa-0000-0000-0000-000000000002" in str(caught.value)


def test_sample_values_and_units() -> None:
    fake = FakeNvml.with_gpus(1)
    gpu = fake.gpus[0]
    gpu.memory_total, gpu.memory_used, gpu.memory_reserved = 24 * GIB, 10 * GIB + 5, 512 * MIB
    gpu.gpu_util, gpu.memory_util, gpu.gpu_temp, gpu.memory_temp = 87, 40, 71, 83
    gpu.power_mw, gpu.energy_mj, gpu.throttle_reasons = 245_678, 5_000_000, 0x4
    gpu.processes = [(os.getpid(), 300 * MIB), (os.getpid() + 100_000, 999 * MIB)]
    nvml = Nvml(_started(fake))
    info = nvml.gpus()[0]
    sample = nvml.sample(info, pids={os.getpid()})
    assert (sample.gpu_index, sample.gpu_uuid, sample.name) == (0, UUID0, "NVIDIA Fake GPU 0")
    assert sample.sampled_at.tzinfo is not None
    assert (sample.fb_total_mib, sample.fb_used_mib, sample.fb_free_mib) == (24576, 10240, 24576 - 10240 - 512 - 1)
    assert (sample.gpu_util_pct, sample.mem_copy_util_pct) == (87, 40)
    assert (sample.gpu_temp_c, sample.memory_temp_c) == (71, 83)
    assert sample.power_w == pytest.approx(245.678)
    assert sample.energy_mj == 5_001_000
    assert nvml.sample(info).energy_mj == 5_002_000  # a counter: it only grows
    assert sample.throttle_reasons == 0x4
    assert sample.process_vram_mib == 300  # only this process, not the stranger's 999


def test_unsupported_fields_are_none_never_an_error() -> None:
    fake = FakeNvml.with_gpus(1)
    fake.gpus[0].memory_temp = None
    fake.gpus[0].unsupported = {
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetTemperature",
    }
    nvml = Nvml(_started(fake))
    sample = nvml.sample(nvml.gpus()[0], pids={os.getpid()})
    assert sample.fb_used_mib == 2048
    unknown = ["gpu_util_pct", "mem_copy_util_pct", "gpu_temp_c", "memory_temp_c", "power_w", "energy_mj",
               "throttle_reasons", "process_vram_mib"]  # fmt: skip
    assert {name: getattr(sample, name) for name in unknown} == dict.fromkeys(unknown)


def test_memory_info_unsupported_is_none_too() -> None:
    fake = FakeNvml.with_gpus(1)
    nvml = Nvml(_started(fake))
    info = nvml.gpus()[0]
    fake.gpus[0].unsupported = {"nvmlDeviceGetMemoryInfo"}
    sample = nvml.sample(info)
    assert (sample.fb_used_mib, sample.fb_total_mib, sample.vram_used_pct) == (None, None, None)
    assert sample.gpu_temp_c == 45


def test_older_driver_without_memory_v2_falls_back_to_v1() -> None:
    fake = FakeNvml.with_gpus(1)
    fake.gpus[0].unsupported = {"nvmlDeviceGetMemoryInfo_v2"}
    nvml = Nvml(_started(fake))
    sample = nvml.sample(nvml.gpus()[0])
    assert sample.fb_used_mib == 2048 + 256  # v1 counts the reserved memory as used
    assert sample.fb_free_mib == 24576 - 2048 - 256


def test_throttle_reasons_fall_back_to_the_old_name_on_an_older_driver() -> None:
    fake = FakeNvml.with_gpus(1, has_event_reasons=False)
    fake.gpus[0].throttle_reasons = 0x20
    nvml = Nvml(_started(fake))
    assert nvml.sample(nvml.gpus()[0]).throttle_reasons == 0x20
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" in fake.calls


def test_processes_without_memory_figures_are_unknown_and_none_of_ours_is_zero() -> None:
    fake = FakeNvml.with_gpus(1)
    nvml = Nvml(_started(fake))
    info = nvml.gpus()[0]
    fake.gpus[0].processes = [(os.getpid(), None)]
    assert nvml.sample(info, pids={os.getpid()}).process_vram_mib is None
    fake.gpus[0].processes = [(1, 5 * GIB)]
    assert nvml.sample(info, pids={os.getpid()}).process_vram_mib == 0
    assert nvml.sample(info, pids=None).process_vram_mib is None


def test_a_lost_gpu_fails_the_sample_with_gpu_read_error() -> None:
    fake = FakeNvml.with_gpus(1)
    nvml = Nvml(_started(fake))
    info = nvml.gpus()[0]
    fake.gpus[0].errors["nvmlDeviceGetTemperature"] = NVMLError_GpuIsLost()
    with pytest.raises(GpuReadError) as caught:
        nvml.sample(info)
    assert caught.value.kind == "NVMLError_GpuIsLost" and UUID0 in str(caught.value)


def test_another_error_on_a_secondary_field_is_none_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNvml.with_gpus(1)
    nvml = Nvml(_started(fake))
    info = nvml.gpus()[0]
    fake.gpus[0].errors["nvmlDeviceGetPowerUsage"] = NVMLError_Unknown()
    for _ in range(3):
        assert nvml.sample(info).power_w is None
    assert len([r for r in caplog.records if "cannot read power" in r.getMessage()]) == 1


def test_a_mig_sample_has_the_instances_memory_and_the_boards_sensors() -> None:
    fake = _mig_fake()
    fake.gpus[1].gpu_temp, fake.gpus[1].power_mw = 66, 300_000
    nvml = Nvml(_started(fake))
    mig = nvml.resolve("MIG-aaaaaaaa-0000-0000-0000-000000000001")
    sample = nvml.sample(mig)
    assert (sample.gpu_uuid, sample.gpu_index, sample.fb_total_mib, sample.fb_used_mib) == (mig.uuid, 1, 10240, 1024)
    assert (sample.gpu_temp_c, sample.power_w) == (66, 300.0)


def _started(fake: FakeNvml) -> FakeNvml:
    fake.nvmlInit()
    return fake
