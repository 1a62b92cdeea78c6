"""`ragfleet metrics`: one Prometheus exporter for what Flower does not export.

Every scrape reads the broker and the database afresh (no state in the exporter, so any number of
them can run): queue depth per queue, waiting and unacknowledged; tokens, cost and enrichments per
tier as counters; the enrichment latency histogram per tier; dead letters per queue; and every GPU's
latest telemetry under the names, units and labels of NVIDIA's dcgm-exporter
(`DCGM_FI_DEV_FB_USED{gpu,UUID,Hostname,modelName}`, ...), so they fit the same dashboards; from Redis, or
from the Postgres history when the broker is not Redis (as `ragfleet status` reads them).
A part that cannot be read is reported by `ragfleet_scrape_ok{part=...} 0` rather than failing the scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from celery import Celery
from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ops.queues import queue_depths
from ops.status import latest_gpu_samples
from shared.db import connect
from shared.db.accounting import dead_letter_counts, tier_totals
from shared.redact import redact_text
from shared.settings import Settings
from workers.gpu.sample import DCGM_METRICS, RAGFLEET_GPU_METRICS, GpuSample

log = logging.getLogger(__name__)


class FleetCollector(Collector):
    """Collects the fleet's figures on each scrape."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self._settings = settings
        self._app = app

    def collect(self) -> Iterator[Metric]:
        """Queue, tier, dead-letter and GPU metrics, then one `ragfleet_scrape_ok` per part."""
        # GPU samples are read from where they live: the broker's Redis, else the database's history.
        gpu_part = (
            "broker" if str(self._settings.broker_url or "").startswith(("redis://", "rediss://")) else "database"
        )
        ok: dict[str, int] = {}
        for part, metrics in (("broker", self._queues), ("database", self._database), (gpu_part, self._gpus)):
            try:
                yield from metrics()
                ok.setdefault(part, 1)
            except Exception as exc:  # an unreachable part must not hide the others
                log.warning("metrics: cannot read the %s: %s", part, redact_text(str(exc)))
                ok[part] = 0
        family = GaugeMetricFamily(
            "ragfleet_scrape_ok", "1 when this part of the scrape could be read", labels=["part"]
        )
        for part, value in ok.items():
            family.add_metric([part], value)
        yield family

    def _queues(self) -> list[Metric]:
        waiting = GaugeMetricFamily("ragfleet_queue_messages_waiting", "Messages ready in the queue", labels=["queue"])
        unacked = GaugeMetricFamily(
            "ragfleet_queue_messages_unacked", "Messages delivered to workers, not yet acknowledged", labels=["queue"]
        )
        for queue, depth in queue_depths(self._app).items():
            waiting.add_metric([queue], depth.waiting)
            if depth.unacked is not None:
                unacked.add_metric([queue], depth.unacked)
        return [waiting, unacked]

    def _database(self) -> list[Metric]:
        with connect(self._settings.require_database_url()) as conn:
            tiers = tier_totals(conn)
            dead = dead_letter_counts(conn)
        tokens = CounterMetricFamily(
            "ragfleet_enrich_tokens", "LLM tokens used by stored enrichments", labels=["tier", "direction"]
        )
        cost = CounterMetricFamily("ragfleet_enrich_cost_usd", "Cost of stored enrichments", labels=["tier"])
        count = CounterMetricFamily("ragfleet_enrichments", "Enrichments stored", labels=["tier"])
        latency = HistogramMetricFamily(
            "ragfleet_enrich_duration_seconds", "Duration of the successful model call", labels=["tier"]
        )
        for t in tiers:
            tokens.add_metric([t["tier"], "in"], t["tokens_in"])
            tokens.add_metric([t["tier"], "out"], t["tokens_out"])
            cost.add_metric([t["tier"]], t["cost_usd"])
            count.add_metric([t["tier"]], t["enriched"])
            buckets = [(str(b), n) for b, n in t["buckets"]] + [("+Inf", t["enriched"])]
            latency.add_metric([t["tier"]], buckets, t["duration_s"])
        letters = GaugeMetricFamily("ragfleet_dead_letters", "Dead letters", labels=["queue", "error_class"])
        for key, n in dead.items():
            queue, _, error_class = key.partition(": ")
            letters.add_metric([queue, error_class], n)
        return [tokens, cost, count, latency, letters]

    def _gpus(self) -> list[Metric]:
        # prometheus_client would name a counter `…_total`; dcgm-exporter's energy counter has no such suffix,
        # so it goes out untyped under DCGM's own name (rate() works the same).
        families = {
            name: Metric(name, spec.help, "gauge" if spec.type == "gauge" else "unknown")
            for name, spec in {**DCGM_METRICS, **RAGFLEET_GPU_METRICS}.items()
        }
        for data in latest_gpu_samples(self._settings).samples:
            sample = GpuSample.from_dict(data)
            labels = sample.dcgm_labels(str(data["host"]))
            for name, value in sample.dcgm_values().items():  # a reading the board lacks is absent, never 0
                families[name].add_sample(name, labels, value)
            for name, spec in RAGFLEET_GPU_METRICS.items():
                value = getattr(sample, spec.field)
                if value is not None:
                    families[name].add_sample(name, {**labels, "worker": str(data["worker"] or "")}, float(value))
        return list(families.values())


def serve(settings: Settings, app: Celery, *, port: int, address: str, stop: threading.Event) -> None:
    """Serve /metrics until `stop` is set."""
    registry = CollectorRegistry()  # only the fleet's metrics: this process's own are of no interest
    registry.register(FleetCollector(settings, app))
    server, thread = start_http_server(port, addr=address, registry=registry)
    try:
        stop.wait()
    finally:
        server.shutdown()
        thread.join()
