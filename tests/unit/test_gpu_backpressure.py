"""Back-pressure: hysteresis over VRAM and temperature; pausing consumers through Celery's control API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from shared.celery_config import make_celery
from shared.db.telemetry import WorkerEvent
from shared.errors import ConfigurationError
from shared.settings import Settings
from workers.gpu.backpressure import BackPressure, BackPressureSettings, ConsumerGate, PressureEvent
from workers.gpu.sample import GpuSample


def _sample(vram_pct: float | None = 50.0, temp: int | None = 60) -> GpuSample:
    free = None if vram_pct is None else round(10000 * (100 - vram_pct) / 100)
    total = None if vram_pct is None else 10000
    return GpuSample(0, "GPU-x", "Fake", datetime.now(UTC), fb_free_mib=free, fb_total_mib=total, gpu_temp_c=temp)


def _machine() -> BackPressure:
    return BackPressure(vram_pause_pct=90, vram_resume_pct=80, temp_pause_c=85, temp_resume_c=75)


def test_pause_at_the_vram_threshold_with_the_reason() -> None:
    bp = _machine()
    assert bp.update(_sample(89.9)) is None
    assert bp.update(_sample(90.0)) == PressureEvent("pause", "VRAM 90.0% >= 90%")
    assert bp.paused


def test_pause_at_the_temperature_threshold_and_both_reasons_at_once() -> None:
    assert _machine().update(_sample(50, 85)) == PressureEvent("pause", "GPU temperature 85°C >= 85°C")
    event = _machine().update(_sample(95, 90))
    assert event is not None and event.reason == "VRAM 95.0% >= 90% and GPU temperature 90°C >= 85°C"


def test_no_flapping_between_the_thresholds_and_resume_below_the_lower_one() -> None:
    bp = _machine()
    events = [bp.update(_sample(v)) for v in (91, 89, 85, 91, 80.5, 80.0, 79.9, 85, 89)]
    assert [e.kind if e else None for e in events] == [
        "pause", None, None, None, None, None, "resume", None, None,
    ]  # fmt: skip
    assert events[6] == PressureEvent("resume", "VRAM 79.9% < 80% and GPU temperature 60°C < 75°C")
    assert not bp.paused


def test_resume_needs_every_reading_below_its_resume_threshold() -> None:
    bp = _machine()
    assert bp.update(_sample(95, 60)) is not None
    assert bp.update(_sample(50, 80)) is None  # VRAM fine now, but the GPU got hot meanwhile
    assert bp.update(_sample(50, 76)) is None
    event = bp.update(_sample(50, 74))
    assert event is not None and event.kind == "resume"


def test_unknown_readings_never_pause_and_a_cause_must_be_seen_again_to_resume() -> None:
    bp = _machine()
    assert bp.update(_sample(None, None)) is None
    assert bp.update(_sample(95, None)) is not None  # no temperature sensor: VRAM alone decides
    assert bp.update(_sample(None, None)) is None  # VRAM unknown: still paused
    event = bp.update(_sample(70, None))
    assert event is not None and event.reason == "VRAM 70.0% < 80%"


def test_a_criterion_can_be_turned_off() -> None:
    bp = BackPressure(vram_pause_pct=None, vram_resume_pct=None, temp_pause_c=85, temp_resume_c=75)
    assert bp.update(_sample(100, 60)) is None
    assert bp.update(_sample(100, 86)) is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vram_pause_pct": 80, "vram_resume_pct": 90}, "must be below the pause threshold"),
        ({"temp_pause_c": 80, "temp_resume_c": 80}, "must be below the pause threshold"),
        ({"vram_pause_pct": 90, "vram_resume_pct": None}, "set both"),
        ({"vram_pause_pct": 120, "vram_resume_pct": 90}, "not in"),
    ],
)
def test_bad_thresholds_are_a_configuration_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BackPressure(**kwargs)


def test_defaults_and_from_settings() -> None:
    settings = BackPressureSettings(vram_pause_pct=95, vram_resume_pct=85)
    bp = BackPressure.from_settings(settings)
    assert (bp.vram_pause_pct, bp.vram_resume_pct, bp.temp_pause_c, bp.temp_resume_c) == (95, 85, 85.0, 78.0)
    assert asdict(BackPressureSettings()) == {
        "vram_pause_pct": 97.0, "vram_resume_pct": 92.0, "temp_pause_c": 85.0, "temp_resume_c": 78.0,
    }  # fmt: skip
    BackPressure()  # the defaults are consistent


class StubControl:
    """A stub of Celery's `app.control`: records cancel_consumer / add_consumer calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def cancel_consumer(self, queue: str, destination: list[str] | None = None, **kwargs: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        self.calls.append(("cancel", queue, {"destination": destination, **kwargs}))

    def add_consumer(
        self,
        queue: str,
        exchange: str | None = None,
        exchange_type: str = "direct",
        routing_key: str | None = None,
        options: dict[str, Any] | None = None,
        destination: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if self.fail is not None:
            raise self.fail
        details = {"destination": destination, "exchange": exchange, "routing_key": routing_key}
        self.calls.append(("add", queue, details))


def test_gate_cancels_and_adds_the_consumer_on_this_worker_only_and_records_events() -> None:
    control = StubControl()
    events: list[WorkerEvent] = []
    gate = ConsumerGate(control, ["enrich.7b"], "7b-gpu0@h1", _machine(), record=events.append)
    for vram in (50, 95, 96, 85, 70, 60):
        gate.on_sample(_sample(vram))
    assert control.calls == [
        ("cancel", "enrich.7b", {"destination": ["7b-gpu0@h1"]}),
        ("add", "enrich.7b", {"destination": ["7b-gpu0@h1"], "exchange": None, "routing_key": None}),
    ]
    assert [(e.worker, e.queue, e.kind) for e in events] == [
        ("7b-gpu0@h1", "enrich.7b", "pause"),
        ("7b-gpu0@h1", "enrich.7b", "resume"),
    ]
    assert events[0].reason == "VRAM 95.0% >= 90%" and isinstance(events[0], WorkerEvent)
    assert not gate.paused


def test_gate_retries_a_failed_control_call_on_the_next_sample(caplog: pytest.LogCaptureFixture) -> None:
    control = StubControl()
    events: list[WorkerEvent] = []
    gate = ConsumerGate(control, ["embed"], "embed-gpu1@h1", _machine(), record=events.append)
    control.fail = ConnectionError("redis://:pw@broker down")
    gate.on_sample(_sample(95))
    gate.on_sample(_sample(95))
    assert not gate.paused and events == []
    assert len([r for r in caplog.records if "cannot pause" in r.getMessage()]) == 1
    assert "pw" not in caplog.text
    control.fail = None
    gate.on_sample(_sample(95))
    assert gate.paused and [c[0] for c in control.calls] == ["cancel"]
    assert [(e.kind, e.reason) for e in events] == [("pause", "VRAM 95.0% >= 90%")]


def test_a_failing_recorder_does_not_undo_the_pause() -> None:
    def record(event: WorkerEvent) -> None:
        raise RuntimeError("database down")

    control = StubControl()
    gate = ConsumerGate(control, ["enrich.7b", "enrich.14b"], "n@h", _machine(), record=record)
    gate.on_sample(_sample(99))
    assert gate.paused and [c[:2] for c in control.calls] == [("cancel", "enrich.7b"), ("cancel", "enrich.14b")]


def test_gate_for_app_resumes_with_the_queues_configured_exchange_and_routing_key() -> None:
    app = make_celery(Settings(broker_url="redis://127.0.0.1:1/0"))
    control = StubControl()
    stub_app = SimpleNamespace(control=control, amqp=app.amqp)
    gate = ConsumerGate.for_app(stub_app, ["enrich.7b"], "7b-gpu0@h1", _machine())
    queue = app.amqp.queues["enrich.7b"]
    assert queue.exchange.name != "enrich.7b"  # re-adding by name alone would bind it elsewhere
    gate.on_sample(_sample(95))
    gate.on_sample(_sample(10))
    assert control.calls[-1] == (
        "add",
        "enrich.7b",
        {"destination": ["7b-gpu0@h1"], "exchange": queue.exchange.name, "routing_key": "enrich.7b"},
    )


def test_a_drained_queue_stays_stopped_when_the_gpu_recovers() -> None:
    control = StubControl()
    events: list[WorkerEvent] = []
    drained = {"enrich.14b"}
    gate = ConsumerGate(
        control, ["enrich.7b", "enrich.14b"], "n@h", _machine(), record=events.append, held=drained.__contains__
    )
    gate.on_sample(_sample(95))
    gate.on_sample(_sample(10))
    assert [c[:2] for c in control.calls] == [("cancel", "enrich.7b"), ("cancel", "enrich.14b"), ("add", "enrich.7b")]
    assert not gate.paused
    assert [(e.queue, e.kind) for e in events][2:] == [("enrich.7b", "resume"), ("enrich.14b", "resume")]
    assert "operator drained it" in events[3].reason and "drained" not in events[2].reason


def test_an_unanswerable_held_check_keeps_the_pause_and_retries() -> None:
    def held(queue: str) -> bool:
        raise ConnectionError("database down")

    control = StubControl()
    gate = ConsumerGate(control, ["embed"], "n@h", _machine(), held=held)
    gate.on_sample(_sample(95))
    gate.on_sample(_sample(10))
    assert gate.paused and [c[0] for c in control.calls] == ["cancel"]
