"""Back-pressure: a worker stops taking tasks while its GPU is too full or too hot.

`BackPressure` is a pure hysteresis state machine: it pauses when VRAM use or GPU temperature
reaches its pause threshold and resumes only once every reading is below its (lower) resume
threshold, so a GPU hovering near one line does not flap the consumer on and off. Readings in
between change nothing. A reading the board does not expose (None) never pauses; while paused,
a reading that caused the pause must be seen below its resume threshold again (a sensor that
stops answering does not count as cooled down).

`ConsumerGate` applies the machine's decisions to a Celery worker through the control API:
`cancel_consumer(queue, destination=[node])` on pause, `add_consumer(...)` on resume. Tasks the
worker already holds finish; it just takes no new ones. A failed control call is retried on the
next sample, and each applied pause/resume is handed to a `record` callable (stored for `status`).
A queue an operator drained (`ragfleet drain`, the `paused_consumers` table) must stay stopped when
the GPU recovers: pass `held(queue) -> bool` and the gate won't add such a consumer back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shared.db.telemetry import EventKind, WorkerEvent
from shared.errors import ConfigurationError
from shared.redact import redact_text
from workers.gpu.sample import GpuSample

log = logging.getLogger(__name__)

Criterion = Literal["vram", "temp"]


@dataclass(frozen=True)
class BackPressureSettings:
    """The thresholds (proposed as `telemetry.*` settings); a None pair turns that criterion off.

    VRAM defaults sit high because model servers pre-allocate: vLLM takes 90 % of the GPU by
    design, and a pause there would never end. The temperatures sit just below the point where
    data-centre GPUs start to slow their clocks (about 85-90 °C).
    """

    vram_pause_pct: float | None = 97.0
    vram_resume_pct: float | None = 92.0
    temp_pause_c: float | None = 85.0
    temp_resume_c: float | None = 78.0


class Thresholds(Protocol):
    """Anything carrying the four thresholds (`BackPressureSettings`, or the settings section)."""

    @property
    def vram_pause_pct(self) -> float | None: ...
    @property
    def vram_resume_pct(self) -> float | None: ...
    @property
    def temp_pause_c(self) -> float | None: ...
    @property
    def temp_resume_c(self) -> float | None: ...


@dataclass(frozen=True)
class PressureEvent:
    """A change of state: `pause` or `resume`, and the readings that caused it."""

    kind: EventKind
    reason: str


class BackPressure:
    """Hysteresis over VRAM use (%) and GPU temperature (°C); see the module docstring."""

    def __init__(
        self,
        vram_pause_pct: float | None = BackPressureSettings.vram_pause_pct,
        vram_resume_pct: float | None = BackPressureSettings.vram_resume_pct,
        temp_pause_c: float | None = BackPressureSettings.temp_pause_c,
        temp_resume_c: float | None = BackPressureSettings.temp_resume_c,
    ) -> None:
        _check_pair("vram", vram_pause_pct, vram_resume_pct, upper=100.0)
        _check_pair("temp", temp_pause_c, temp_resume_c, upper=None)
        self.vram_pause_pct = vram_pause_pct
        self.vram_resume_pct = vram_resume_pct
        self.temp_pause_c = temp_pause_c
        self.temp_resume_c = temp_resume_c
        self._causes: set[Criterion] = set()

    @classmethod
    def from_settings(cls, settings: Thresholds) -> BackPressure:
        """A machine with the thresholds of `settings`."""
        return cls(settings.vram_pause_pct, settings.vram_resume_pct, settings.temp_pause_c, settings.temp_resume_c)

    @property
    def paused(self) -> bool:
        """True between a pause and the resume that follows it."""
        return bool(self._causes)

    def update(self, sample: GpuSample) -> PressureEvent | None:
        """Feed one sample; a PressureEvent only when the state changes."""
        readings: dict[Criterion, tuple[float | None, float | None, float | None]] = {
            "vram": (sample.vram_used_pct, self.vram_pause_pct, self.vram_resume_pct),
            "temp": (
                None if sample.gpu_temp_c is None else float(sample.gpu_temp_c),
                self.temp_pause_c,
                self.temp_resume_c,
            ),
        }
        if not self.paused:
            over = [c for c, (value, pause, _) in readings.items() if _at_or_above(value, pause)]
            if not over:
                return None
            self._causes = set(over)
            return PressureEvent(
                "pause", " and ".join(_describe(c, readings[c][0], ">=", readings[c][1]) for c in over)
            )
        blocking = [
            c
            for c, (value, _, resume) in readings.items()
            if _at_or_above(value, resume) or (value is None and c in self._causes)
        ]
        if blocking:
            self._causes.update(c for c in blocking if readings[c][0] is not None)
            return None
        self._causes = set()
        below = [
            _describe(c, value, "<", resume)
            for c, (value, _, resume) in readings.items()
            if value is not None and resume is not None
        ]
        return PressureEvent("resume", " and ".join(below))


def _check_pair(what: str, pause: float | None, resume: float | None, upper: float | None) -> None:
    if pause is None and resume is None:
        return
    if pause is None or resume is None:
        raise ConfigurationError(f"back-pressure {what}: set both the pause and the resume threshold, or neither")
    if resume >= pause:
        raise ConfigurationError(
            f"back-pressure {what}: the resume threshold ({resume:g}) must be below the pause threshold ({pause:g})"
        )
    if upper is not None and not 0 < pause <= upper:
        raise ConfigurationError(f"back-pressure {what}: the pause threshold {pause:g} is not in (0, {upper:g}]")


def _at_or_above(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value >= threshold


def _describe(criterion: Criterion, value: float | None, op: str, threshold: float | None) -> str:
    if criterion == "vram":
        return f"VRAM {value:.1f}% {op} {threshold:g}%"
    return f"GPU temperature {value:g}°C {op} {threshold:g}°C"


# ---------------------------------------------------------------------- applying it to a worker


class ConsumerControl(Protocol):
    """The two calls of Celery's control API that the gate makes (`app.control` fits)."""

    def cancel_consumer(self, queue: str, destination: list[str] | None = None, **kwargs: Any) -> Any: ...

    def add_consumer(
        self,
        queue: str,
        exchange: str | None = None,
        exchange_type: str = "direct",
        routing_key: str | None = None,
        options: dict[str, Any] | None = None,
        destination: list[str] | None = None,
        **kwargs: Any,
    ) -> Any: ...


@dataclass(frozen=True)
class QueueBinding:
    """How a queue is declared, so a resumed consumer declares it the same way.

    Celery forgets a cancelled queue's declaration in the worker; re-adding it by name alone
    would bind it to an exchange named after the queue instead of the configured one.
    """

    exchange: str
    exchange_type: str
    routing_key: str | None


class ConsumerGate:
    """Pauses and resumes one worker's queue consumers as a `BackPressure` decides.

    `hostname` is the worker's node name (`7b-gpu0@host`): control commands go to it alone.
    `record` receives one WorkerEvent per queue for each applied pause/resume; `held(queue)` says
    whether an operator drained the queue (then a resume leaves it stopped); `bindings` are the
    queues' declarations (`for_app` reads them from the app).
    """

    def __init__(
        self,
        control: ConsumerControl,
        queues: Sequence[str],
        hostname: str,
        pressure: BackPressure,
        record: Callable[[WorkerEvent], object] | None = None,
        bindings: Mapping[str, QueueBinding] | None = None,
        held: Callable[[str], bool] | None = None,
    ) -> None:
        self._control = control
        self.queues = list(queues)
        self.hostname = hostname
        self.pressure = pressure
        self._record = record
        self._bindings = dict(bindings or {})
        self._held = held
        self._applied_paused = False
        self._pending_reason = ""
        self._failing = False

    @classmethod
    def for_app(
        cls,
        app: Any,
        queues: Sequence[str],
        hostname: str,
        pressure: BackPressure,
        record: Callable[[WorkerEvent], object] | None = None,
        held: Callable[[str], bool] | None = None,
    ) -> ConsumerGate:
        """A gate over a Celery app's control API; call it before any pause (it reads the queue declarations)."""
        bindings = {}
        for name in queues:
            queue = app.amqp.queues.get(name)
            if queue is not None and queue.exchange is not None:
                bindings[name] = QueueBinding(queue.exchange.name, queue.exchange.type, queue.routing_key)
        return cls(app.control, queues, hostname, pressure, record, bindings, held)

    @property
    def paused(self) -> bool:
        """True while the worker's consumers are cancelled."""
        return self._applied_paused

    def on_sample(self, sample: GpuSample) -> PressureEvent | None:
        """The sampler's listener: update the machine and bring the consumers in line with it."""
        event = self.pressure.update(sample)
        if event is not None:
            self._pending_reason = event.reason
        if self.pressure.paused != self._applied_paused:
            self._apply(self.pressure.paused)
        return event

    def _apply(self, pause: bool) -> None:
        kind: EventKind = "pause" if pause else "resume"
        drained: set[str] = set()
        try:
            for queue in self.queues:
                if pause:
                    self._control.cancel_consumer(queue, destination=[self.hostname])
                elif self._held is not None and self._held(queue):
                    drained.add(queue)  # an operator's drain outranks the GPU cooling down
                else:
                    self._add(queue)
        except Exception as exc:  # the broker (or database) is down: keep the decision, try again next sample
            if not self._failing:
                log.warning(
                    "back-pressure: cannot %s %s on %s (%s); retrying on each sample",
                    kind,
                    ", ".join(self.queues),
                    self.hostname,
                    redact_text(str(exc)),
                )
            self._failing = True
            return
        self._failing = False
        self._applied_paused = pause
        for queue in self.queues:
            reason = self._pending_reason
            if queue in drained:
                reason += "; the queue stays stopped: an operator drained it"
            log.log(
                logging.WARNING if pause else logging.INFO,
                "back-pressure: %s %s on %s: %s",
                kind,
                queue,
                self.hostname,
                reason,
            )
            if self._record is not None:
                try:
                    self._record(WorkerEvent(self.hostname, queue, kind, reason))
                except Exception as exc:  # an unrecorded event must not undo the pause itself
                    log.warning("back-pressure: cannot record the %s event (%s)", kind, redact_text(str(exc)))

    def _add(self, queue: str) -> None:
        binding = self._bindings.get(queue)
        if binding is None:
            self._control.add_consumer(queue, destination=[self.hostname])
        else:
            self._control.add_consumer(
                queue,
                exchange=binding.exchange,
                exchange_type=binding.exchange_type,
                routing_key=binding.routing_key,
                destination=[self.hostname],
            )
