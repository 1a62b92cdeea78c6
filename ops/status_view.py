"""How `ragfleet status` looks on a terminal: one renderable, redrawn in place by `--watch`."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def render(data: dict[str, Any], rates: dict[str, float] | None = None) -> Group:
    """Queues, workers, row counts, tier accounting and dead letters (`rates`: queue -> messages/s drained)."""
    parts: list[RenderableType] = [_queues(data["queues"], rates), _workers(data["workers"])]
    parts.append(Text("rows: " + pairs(data["counts"])))
    parts.append(Text("start tiers: " + (pairs(data["start_tiers"]) or "-")))
    if data["tiers"]:
        parts.append(_tiers(data["tiers"]))
    parts.append(Text("dead letters: " + (pairs(data["dead_letters"]) or "none")))
    if "gpus" in data:
        parts.extend(_gpus(data["gpus"]))
    return Group(*parts)


def pairs(mapping: dict[str, Any]) -> str:
    """`a 1, b 2`."""
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _queues(queues: dict[str, dict[str, Any]], rates: dict[str, float] | None) -> Table:
    table = Table(title="queues")
    table.add_column("queue")
    for column in ("waiting", "unacked", "drained/s"):
        table.add_column(column, justify="right")
    for name, depth in queues.items():
        unacked = "-" if depth["unacked"] is None else str(depth["unacked"])
        rate = "-" if rates is None or name not in rates else f"{rates[name]:.1f}"
        table.add_row(name, str(depth["waiting"]), unacked, rate)
    return table


def _workers(workers: dict[str, dict[str, Any]]) -> RenderableType:
    if not workers:
        return Text("no workers online")
    table = Table(title="workers online")
    for column in ("worker", "host", "tier", "gpu", "pool", "active", "queues", "paused"):
        table.add_column(column, justify="right" if column == "active" else "left")
    for name, w in sorted(workers.items()):
        gpu = "-" if w["gpu"] is None else f"{w['gpu']['index']} {w['gpu']['uuid']}"
        pool = f"{w['pool'] or '-'} ×{w['concurrency']}" if w["concurrency"] else (w["pool"] or "-")
        paused = ", ".join(f"{queue} ({why})" for queue, why in w["paused"].items()) or "no"
        table.add_row(
            name, w["host"], ", ".join(w["tiers"]), gpu, pool, str(w["active"]), ", ".join(w["queues"]) or "-", paused
        )
    return table


def _tiers(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="enrichment by tier and host")
    for column in ("tier", "host", "enriched", "success", "tokens in/out", "cost $", "p50 ms", "p95 ms", "errors"):
        table.add_column(column, justify="left" if column in ("tier", "host", "errors") else "right")
    for r in rows:
        rate = "-" if r["success_rate"] is None else f"{100 * r['success_rate']:.1f}%"
        table.add_row(
            r["tier"], r["host"], str(r["enriched"]), rate, f"{r['tokens_in']}/{r['tokens_out']}",
            f"{r['cost_usd']:.4f}", _ms(r["p50_ms"]), _ms(r["p95_ms"]), pairs(r["errors"]) or "-",
        )  # fmt: skip
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _gpus(gpus: dict[str, Any]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if gpus["note"]:
        parts.append(Text(f"gpus: {gpus['note']}"))
    if not gpus["latest"]:
        parts.append(Text("gpu: none"))
    else:
        table = Table(title="gpus")
        columns = ("host", "gpu", "uuid", "worker", "VRAM MiB", "util", "temp °C", "power W", "throttle", "age s")
        for column in columns:
            table.add_column(column, justify="left" if column in ("host", "uuid", "worker", "throttle") else "right")
        for g in gpus["latest"]:
            vram = f"{_dash(g['fb_used_mib'])}/{_dash(g['fb_total_mib'])}"
            if g["vram_used_pct"] is not None:
                vram += f" ({g['vram_used_pct']:.0f}%)"
            temps = _dash(g["gpu_temp_c"]) + ("" if g["memory_temp_c"] is None else f" (mem {g['memory_temp_c']})")
            table.add_row(
                g["host"] or "-", str(g["gpu_index"]), g["gpu_uuid"], g["worker"] or "-", vram,
                "-" if g["gpu_util_pct"] is None else f"{g['gpu_util_pct']}%", temps,
                "-" if g["power_w"] is None else f"{g['power_w']:.0f}", ", ".join(g["throttle"]) or "-",
                f"{g['age_s']:.0f}",
            )  # fmt: skip
        parts.append(table)
    if gpus["back_pressure"]:
        table = Table(title="back-pressure (latest pause/resume per worker and queue)")
        for column in ("worker", "queue", "state", "since", "reason"):
            table.add_column(column)
        for b in gpus["back_pressure"]:
            table.add_row(b["worker"], b["queue"], b["state"], (b["at"] or "-")[:19].replace("T", " "), b["reason"])
        parts.append(table)
    return parts


def _dash(value: object) -> str:
    return "-" if value is None else str(value)
