"""One probe result, and how a day of them is stored as evidence.

A sample taken at `t` says whether `instance` answered when probed from `vantage`; the engine lets
it stand for [t, t + interval). Samples are stored per (instance, vantage, UTC day) as one
`sla.samples` record whose artifact holds the columns (times, up, latency, detail) as JSON, so a
month of 60 s probes of 100 instances from 2 vantage points is 6,000 records, not 8.6 million.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SAMPLES_KIND = "sla.samples"
SECTION = "samples"


@dataclass(frozen=True)
class Sample:
    t: float  # Unix time (UTC seconds) the probe was taken
    vantage: str  # where it was taken from, e.g. "mil-1", "fra-1"
    instance: str  # what was probed: an SLA instance id of the configuration
    up: bool
    latency_ms: float | None = None
    detail: str | None = None  # "SIP 200", "SIP 503", "timeout", "connection refused"…


@dataclass(frozen=True)
class DayKey:
    instance: str
    vantage: str
    day: str  # YYYY-MM-DD (UTC)


def day_of(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def group_by_day(samples: Iterable[Sample]) -> dict[DayKey, list[Sample]]:
    groups: dict[DayKey, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[DayKey(s.instance, s.vantage, day_of(s.t))].append(s)
    return groups


def columns(samples: list[Sample]) -> dict[str, list[Any]]:
    ordered = sorted(samples, key=lambda s: s.t)
    return {"t": [s.t for s in ordered], "up": [1 if s.up else 0 for s in ordered],
            "latency_ms": [s.latency_ms for s in ordered], "detail": [s.detail for s in ordered]}


def emit_samples(record: Callable[..., None], artifact: Callable[[bytes, str], str], source_id: str,
                 samples: Iterable[Sample], **extra: Any) -> int:
    """Store *samples* as one `sla.samples` record per (instance, vantage, day): record(kind,
    subject, payload, artifacts=…) is `Emitter.record`, artifact(bytes, media type) `Emitter.artifact`.
    *extra* goes into every payload (e.g. the query or file it came from). Returns the records made."""
    made = 0
    for key, group in sorted(group_by_day(samples).items(), key=lambda kv: (kv[0].instance, kv[0].vantage,
                                                                              kv[0].day)):
        cols = columns(group)
        sha = artifact(json.dumps(cols, separators=(",", ":")).encode(), "application/json")
        ups = sum(cols["up"])
        payload = {"instance": key.instance, "vantage": key.vantage, "day": key.day, "count": len(group),
                   "up": ups, "down": len(group) - ups, "first": cols["t"][0], "last": cols["t"][-1],
                   "sha256": sha, **extra}
        record(SAMPLES_KIND, f"{source_id}/{key.instance}/{key.vantage}/{key.day}", payload, artifacts=(sha,))
        made += 1
    return made


def load_columns(data: bytes) -> dict[str, list[Any]]:
    cols = json.loads(data)
    if not isinstance(cols, dict) or not {"t", "up"} <= set(cols) or len(cols["t"]) != len(cols["up"]):
        raise ValueError("not a samples artifact (columns t and up of equal length)")
    return cols
