"""Issue 5's done-when month read two ways — from a real Prometheus and from the CSV import —
gives exactly the hand-computed figures (the same month as tests/engine/sla/test_engine.py)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attest.period import parse_period
from attest.sla import SlaResult, evaluate
from collectors.base import Emitter
from collectors.sla.file_import import SampleFileCollector
from collectors.sla.prometheus import PrometheusCollector, PrometheusReader
from collectors.sla.samples import SAMPLES_KIND, load_columns
from tests.collectors.sla.prom import Point, binaries, running_prometheus

DAY, HOUR, MIN = 86400, 3600, 60


def _month() -> tuple[float, float, list[tuple[float, str, bool]], tuple[float, float]]:
    period = parse_period("2026-04", "Europe/Rome")
    start, end = period.start.timestamp(), period.end.timestamp()

    def at(day: int, hour: int, minute: int) -> float:
        return start + day * DAY + hour * HOUR + minute * MIN

    outages = [(at(3, 10, 0), 12), (at(10, 14, 30), 20), (at(20, 3, 15), 15)]
    maintenance = (at(15, 2, 0), at(15, 4, 0))
    gap = (at(25, 6, 0), at(25, 12, 0))
    single_a = {at(1, 8, 7), at(5, 23, 59), at(12, 0, 0), at(18, 13, 1), at(27, 17, 45)}
    down = {at(7, 7, 7)}
    for t0, minutes in outages:
        down.update(t0 + k * MIN for k in range(minutes))
    down.update(maintenance[0] + k * MIN for k in range(120))
    rows = []
    t = start
    while t < end:
        if not gap[0] <= t < gap[1]:
            rows.append((t, "mil-1", t not in down and t not in single_a))
            rows.append((t, "fra-1", t not in down))
        t += MIN
    return start, end, rows, maintenance


def _emitter() -> tuple[Emitter, dict[str, bytes]]:
    blobs: dict[str, bytes] = {}

    def put(data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        blobs[sha] = data
        return sha

    return Emitter("src", put), blobs


def _evaluate(out: Emitter, blobs: dict[str, bytes], start: float, end: float,
              maintenance: tuple[float, float]) -> SlaResult:
    series: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    for rec in out.records:
        if rec.kind == SAMPLES_KIND:
            cols = load_columns(blobs[rec.payload["sha256"]])
            series[rec.payload["vantage"]][0].extend(cols["t"])
            series[rec.payload["vantage"]][1].extend(cols["up"])
    return evaluate(dict(series), interval=60, start=start, end=end, exclusions=[maintenance], target=0.999)


def _check(r: SlaResult, start: float) -> None:
    assert (r.up_s, r.down_s, r.unknown_s, r.excluded_s) == (2_560_380, 2_820, 21_600, 7_200)
    assert r.availability == 2_560_380 / 2_563_200 and r.coverage == 2_563_200 / 2_584_800
    assert [(o.start - start, o.duration) for o in r.outages] == [
        (3 * DAY + 10 * HOUR, 720), (10 * DAY + 14 * HOUR + 30 * MIN, 1200), (20 * DAY + 3 * HOUR + 15 * MIN, 900)]
    assert r.mttr_s == 940 and r.longest_s == 1200


def test_csv_import_gives_the_hand_computed_month(tmp_path: Path) -> None:
    start, end, rows, maintenance = _month()
    path = tmp_path / "probes.csv"
    path.write_text("timestamp,vantage,instance,up\n"
                    + "".join(f"{int(t)},{v},pbx-acme,{int(up)}\n" for t, v, up in rows))
    out, blobs = _emitter()
    SampleFileCollector("src", path).collect(out)
    assert not out.failures
    _check(_evaluate(out, blobs, start, end, maintenance), start)


def test_real_prometheus_gives_the_hand_computed_month(tmp_path: Path) -> None:
    try:
        binaries()
    except Exception as exc:  # the helper skips when Prometheus is not installed
        pytest.skip(str(exc))
    start, end, rows, maintenance = _month()
    points = [Point((("instance", "pbx-acme"), ("vantage", v)), t, 1.0 if up else 0.0) for t, v, up in rows]
    with running_prometheus(tmp_path / "prom", "probe_success", points) as prom:
        reader = PrometheusReader(prom.url, vantage_label="vantage", instances={"pbx-acme": "pbx-acme"})
        out, blobs = _emitter()
        PrometheusCollector("src", reader, start=datetime.fromtimestamp(start, UTC),
                            end=datetime.fromtimestamp(end, UTC)).collect(out)
    assert not out.failures, out.failures[:3]
    _check(_evaluate(out, blobs, start, end, maintenance), start)
