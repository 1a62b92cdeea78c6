"""Pinning a worker to one GPU (CUDA_VISIBLE_DEVICES by UUID) and naming it after tier, GPU and host."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from shared.errors import BadInputError, ConfigurationError
from tests.fake_nvml import GIB, FakeGpu, FakeNvml
from workers.gpu.nvml import Nvml, open_nvml
from workers.gpu.pinning import all_gpus, apply_pin, pin_environment, worker_name

UUID1 = "GPU-00000000-0000-0000-0000-000000000001"


def _nvml(fake: FakeNvml) -> Nvml:
    nvml = open_nvml(fake)
    assert nvml is not None
    return nvml


def test_no_gpu_flag_means_no_pinning_even_without_nvml() -> None:
    assert pin_environment(None, None) is None
    assert pin_environment(None, _nvml(FakeNvml.with_gpus(1))) is None


def test_gpu_flag_without_nvml_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"--gpu 0: NVML is not available on this host \(gpu: none\)"):
        pin_environment("0", None)


@pytest.mark.parametrize("spec", ["1", UUID1])
def test_pin_by_index_or_uuid_sets_cuda_visible_devices_to_the_uuid(spec: str) -> None:
    pinned = pin_environment(spec, _nvml(FakeNvml.with_gpus(2)))
    assert pinned is not None
    assert (pinned.index, pinned.uuid, pinned.name, pinned.mig_instance) == (1, UUID1, "NVIDIA Fake GPU 1", None)
    assert dict(pinned.env) == {"CUDA_VISIBLE_DEVICES": UUID1, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_pin_a_bad_spec_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="--gpu '5' matches no GPU"):
        pin_environment("5", _nvml(FakeNvml.with_gpus(2)))


def test_pin_a_mig_instance() -> None:
    mig = FakeGpu(uuid="MIG-bbbbbbbb-0000-0000-0000-000000000000", memory_total=20 * GIB, gpu_instance_id=3)
    fake = FakeNvml([FakeGpu(uuid="GPU-a", migs=[mig])])
    pinned = pin_environment(mig.uuid, _nvml(fake))
    assert pinned is not None
    assert (pinned.index, pinned.mig_instance, pinned.env["CUDA_VISIBLE_DEVICES"]) == (0, 3, mig.uuid)


def test_all_gpus_is_one_pin_per_gpu_or_per_mig_instance() -> None:
    migs = [FakeGpu(uuid=f"MIG-{i}", gpu_instance_id=i) for i in (1, 2)]
    fake = FakeNvml([FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b", migs=migs), FakeGpu(uuid="GPU-c")])
    pins = all_gpus(_nvml(fake))
    assert [(p.index, p.uuid, p.mig_instance) for p in pins] == [
        (0, "GPU-a", None),
        (1, "MIG-1", 1),
        (1, "MIG-2", 2),
        (2, "GPU-c", None),
    ]
    assert all_gpus(None) == []


def test_apply_pin_sets_the_environment() -> None:
    pinned = pin_environment("0", _nvml(FakeNvml.with_gpus(1)))
    assert pinned is not None
    environ = {"CUDA_VISIBLE_DEVICES": "3", "PATH": "/bin"}
    apply_pin(pinned, environ)
    assert environ == {
        "CUDA_VISIBLE_DEVICES": "GPU-00000000-0000-0000-0000-000000000000",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "PATH": "/bin",
    }


def test_apply_pin_refuses_once_cuda_is_initialised(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = pin_environment("0", _nvml(FakeNvml.with_gpus(1)))
    assert pinned is not None
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    environ: dict[str, str] = {}
    with pytest.raises(ConfigurationError, match="CUDA is already initialised"):
        apply_pin(pinned, environ)
    assert environ == {}
    fake_torch.cuda.is_initialized = lambda: False  # imported but CUDA untouched: still in time
    apply_pin(pinned, environ)
    assert environ["CUDA_VISIBLE_DEVICES"] == pinned.uuid


@pytest.mark.parametrize(
    ("queue", "index", "mig", "expected"),
    [
        ("enrich.7b", 0, None, "7b-gpu0@host1"),
        ("enrich.14b", 3, None, "14b-gpu3@host1"),
        ("embed", 1, None, "embed-gpu1@host1"),
        ("enrich.7b,embed", 0, None, "7b+embed-gpu0@host1"),
        ("enrich.7b", 1, 7, "7b-gpu1-mig7@host1"),
    ],
)
def test_worker_name(queue: str, index: int, mig: int | None, expected: str) -> None:
    assert worker_name(queue, index, "host1", mig) == expected


def test_worker_name_needs_a_queue() -> None:
    with pytest.raises(ConfigurationError):
        worker_name(" , ", 0, "host1")
