"""One probe result, and how a day of them is stored as evidence.

A sample taken at `t` says whether `instance` answered when probed from `vantage`; the engine lets
it stand for [t, t + interval). Samples are stored per (instance, vantage, UTC day) as one
`sla.samples` record whose artifact holds the columns (times, up, latency, detail) as JSON, so a
month of 60 s probes of 100 instances from 2 vantage points is 6,000 records, not 8.6 million.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

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


# A time at most this far below a UTC midnight may be rounded up to it (datetime keeps microseconds):
# such times get their day from day_of itself, every other one from floor(t / 86400).
_NEAR_MIDNIGHT_S = 2e-6


def split_by_day(times: Sequence[float]) -> list[tuple[str, list[int] | None]]:
    """The UTC days of *times* (exactly as `day_of` gives them), sorted, each with the positions of
    its times in their given order -- or None when all of them are that day's."""
    if not times:
        return []
    t = np.asarray(times, dtype=np.float64)
    k = np.floor_divide(t, 86400.0)
    odd = ~np.isfinite(t) | ((k + 1.0) * 86400.0 - t <= _NEAR_MIDNIGHT_S)
    for i in np.flatnonzero(odd).tolist():  # rare: let datetime decide (and raise as it does)
        day = datetime.strptime(day_of(float(t[i])), "%Y-%m-%d").replace(tzinfo=UTC)
        k[i] = day.timestamp() // 86400.0
    first, last = k.min(), k.max()
    if first == last:
        return [(day_of(float(first) * 86400.0), None)]
    return sorted((day_of(float(v) * 86400.0), np.flatnonzero(k == v).tolist()) for v in np.unique(k).tolist())


def group_by_day(samples: Iterable[Sample]) -> dict[DayKey, list[Sample]]:
    groups: dict[DayKey, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[DayKey(s.instance, s.vantage, day_of(s.t))].append(s)
    return groups


def columns(samples: list[Sample]) -> dict[str, list[Any]]:
    ordered = sorted(samples, key=lambda s: s.t)
    return {"t": [s.t for s in ordered], "up": [1 if s.up else 0 for s in ordered],
            "latency_ms": [s.latency_ms for s in ordered], "detail": [s.detail for s in ordered]}


COLUMNS = ("t", "up", "latency_ms", "detail")


def emit_columns(record: Callable[..., None], artifact: Callable[[bytes, str], str], source_id: str,
                 series: Mapping[tuple[str, str], Mapping[str, Sequence[Any]]], **extra: Any) -> int:
    """As `emit_samples`, for samples already held as columns: *series* maps (instance, vantage) to
    {"t": times, "up": 0/1 ints[, "latency_ms": …][, "detail": …]} (missing columns are all None),
    each in the order the samples came in. Stores exactly what emit_samples stores for the same
    samples in the same order, without one object per sample."""
    made = 0
    for (instance, vantage), cols in sorted(series.items()):
        times, ups = list(cols["t"]), list(cols["up"])
        n = len(times)
        if len(ups) != n:
            raise ValueError(f"{instance}/{vantage}: columns t and up differ in length")
        latency = list(cols["latency_ms"]) if cols.get("latency_ms") is not None else [None] * n
        detail = list(cols["detail"]) if cols.get("detail") is not None else [None] * n
        for day, positions in split_by_day(times):
            group = [times, ups, latency, detail]
            if positions is not None:
                group = [[column[i] for i in positions] for column in group]
            t = np.asarray(group[0], dtype=np.float64)
            if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):  # stable, as sorted(key=t) is
                order = np.argsort(t, kind="stable").tolist()
                group = [[column[i] for i in order] for column in group]
            day_cols = dict(zip(COLUMNS, group, strict=True))
            sha = artifact(json.dumps(day_cols, separators=(",", ":")).encode(), "application/json")
            count, up = len(group[0]), sum(group[1])
            payload = {"instance": instance, "vantage": vantage, "day": day, "count": count, "up": up,
                       "down": count - up, "first": group[0][0], "last": group[0][-1], "sha256": sha, **extra}
            record(SAMPLES_KIND, f"{source_id}/{instance}/{vantage}/{day}", payload, artifacts=(sha,))
            made += 1
    return made


def emit_samples(record: Callable[..., None], artifact: Callable[[bytes, str], str], source_id: str,
                 samples: Iterable[Sample], **extra: Any) -> int:
    """Store *samples* as one `sla.samples` record per (instance, vantage, day): record(kind,
    subject, payload, artifacts=…) is `Emitter.record`, artifact(bytes, media type) `Emitter.artifact`.
    *extra* goes into every payload (e.g. the query or file it came from). Returns the records made.
    Each day's samples are stored in time order (equal times in the order given)."""
    series: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for s in samples:
        cols = series.get((s.instance, s.vantage))
        if cols is None:
            cols = series[(s.instance, s.vantage)] = {name: [] for name in COLUMNS}
        cols["t"].append(s.t)
        cols["up"].append(1 if s.up else 0)
        cols["latency_ms"].append(s.latency_ms)
        cols["detail"].append(s.detail)
    return emit_columns(record, artifact, source_id, series, **extra)


def load_columns(data: bytes) -> dict[str, list[Any]]:
    cols = json.loads(data)
    if not isinstance(cols, dict) or not {"t", "up"} <= set(cols) or len(cols["t"]) != len(cols["up"]):
        raise ValueError("not a samples artifact (columns t and up of equal length)")
    return cols
