"""The Prometheus probe-data source against a REAL Prometheus (Debian's `prometheus`, its TSDB
filled with known samples by promtool), and its failure handling against stub servers."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from collectors.base import Emitter, SourceFailed
from collectors.sla.prometheus import (
    PrometheusCollector,
    PrometheusError,
    PrometheusReader,
    promql_string,
    regex_escape,
)
from collectors.sla.samples import SAMPLES_KIND, load_columns
from tests.collectors.sla.prom import Point, RunningPrometheus, running_prometheus

SRC = "prom-mil"
METRIC = "probe_success"
T0 = datetime(2025, 3, 10, tzinfo=UTC)  # a month long past: promtool writes blocks, not the head
START, END = T0, T0 + timedelta(days=2, hours=6)  # the period read: 2.25 days
DATA_FROM, DATA_TO = T0 - timedelta(hours=4), T0 + timedelta(days=2, hours=8)  # stored: a bit more
TOKEN = "s3cr3t-T0KEN-4f9a"
INSTANCES = {"pbx-a": "acme-pbx", "pbx.b+1": "beta-pbx", "pbx-c": "gamma-pbx", "pbx-ghost": "ghost-pbx"}

H, M = 3600.0, 60.0
t0 = T0.timestamp()
GAP_A_MIL = (t0 + 10 * H, t0 + 10 * H + 30 * M)  # 30 missing samples
GAP_B_MIL = (t0 + 36 * H, t0 + 42 * H)  # a 6-hour monitoring gap
DOWN_A_MIL = (t0 + 27 * H, t0 + 27 * H + 5 * M)  # 5 down samples
DOWN_A_FRA = (t0 + 27 * H + 1 * M + 17, t0 + 27 * H + 4 * M + 17)  # 3 down samples (04:17 excluded)
BOUNDARY = t0 + 24 * H  # a chunk boundary exactly on a (down) sample of pbx-a/mil


@dataclass(frozen=True)
class Series:
    label_value: str
    vantage: str | None  # None: the series has no vantage label
    offset_s: float
    value: Callable[[float], float | None]  # None: no sample at that time


def _a_mil(t: float) -> float | None:
    if GAP_A_MIL[0] <= t < GAP_A_MIL[1]:
        return None
    return 0.0 if DOWN_A_MIL[0] <= t < DOWN_A_MIL[1] or t == BOUNDARY else 1.0


def _a_fra(t: float) -> float | None:
    return 0.0 if DOWN_A_FRA[0] <= t < DOWN_A_FRA[1] else 1.0


def _b_mil(t: float) -> float | None:
    return None if GAP_B_MIL[0] <= t < GAP_B_MIL[1] else 1.0


def _b_fra(t: float) -> float | None:
    if t == t0 + 5 * H + 17:
        return math.nan
    if t == t0 + 6 * H + 17:
        return 0.5
    return 1.0


SERIES = [
    Series("pbx-a", "mil", 0, _a_mil),
    Series("pbx-a", "fra", 17, _a_fra),  # another clock: never on a chunk boundary
    Series("pbx.b+1", "mil", 0, _b_mil),  # regex metacharacters in the label value
    Series("pbx.b+1", "fra", 17, _b_fra),  # a NaN and a 0.5: skipped and counted
    Series("pbx-c", None, 30, lambda t: 1.0),  # no vantage label: the source's id stands in
    # Not configured, and each would match a sloppy regex: "pbx-a" unanchored, "pbx.b+1" unescaped.
    Series("pbx-ab", "mil", 0, lambda t: 0.0),
    Series("pbx-bbb1", "mil", 0, lambda t: 0.0),
    Series("pbx-other", "mil", 0, lambda t: 0.0),
]


def _times(s: Series) -> Iterator[float]:
    t = DATA_FROM.timestamp() + s.offset_s
    while t < DATA_TO.timestamp():
        yield t
        t += 60


def _points() -> list[Point]:
    out = []
    for s in SERIES:
        labels = (("instance", s.label_value),) + ((("vantage", s.vantage),) if s.vantage else ())
        out += [Point(labels, t, v) for t in _times(s) if (v := s.value(t)) is not None]
    return out


def expected() -> dict[tuple[str, str], list[tuple[float, int]]]:
    """(SLA instance, vantage) -> [(t, up)] of the raw 0/1 samples in [START, END)."""
    out: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for s in SERIES:
        if s.label_value not in INSTANCES:
            continue
        key = (INSTANCES[s.label_value], s.vantage or SRC)
        out[key] = [(t, int(v)) for t in _times(s) if START.timestamp() <= t < END.timestamp()
                    and (v := s.value(t)) is not None and v in (0.0, 1.0)]
    return out


@dataclass
class Store:
    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return sha


@dataclass
class Result:
    out: Emitter
    store: Store

    def samples(self) -> dict[str, dict[str, Any]]:
        subjects = [r.subject for r in self.out.records if r.kind == SAMPLES_KIND]
        assert len(subjects) == len(set(subjects)), "a day stored twice"
        return {r.subject: r.payload for r in self.out.records if r.kind == SAMPLES_KIND}

    def columns(self) -> dict[tuple[str, str], list[tuple[float, int]]]:
        got: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for r in self.out.records:
            if r.kind == SAMPLES_KIND:
                cols = load_columns(self.store.blobs[r.payload["sha256"]])
                got.setdefault((r.payload["instance"], r.payload["vantage"]), []).extend(zip(cols["t"], cols["up"],
                                                                                            strict=True))
        return {k: sorted(v) for k, v in got.items()}

    def read_record(self) -> dict[str, Any]:
        return next(r.payload for r in self.out.records if r.kind == "sla.prometheus.read")

    def failures(self) -> dict[str | None, str]:
        return {f.subject: f.error for f in self.out.failures}


def collect(reader: PrometheusReader, start: datetime = START, end: datetime = END) -> Result:
    store = Store()
    out = Emitter(SRC, store.put)
    PrometheusCollector(SRC, reader, start=start, end=end).collect(out)
    return Result(out, store)


# -- the real Prometheus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), METRIC, _points()) as running:
        yield running


def _reader(prom: RunningPrometheus, **overrides: Any) -> PrometheusReader:
    options: dict[str, Any] = {"vantage_label": "vantage", "instances": INSTANCES, "timeout_s": 30.0,
                               "chunk": timedelta(days=1)}
    options.update(overrides)
    return PrometheusReader(prom.url, **options)


@pytest.mark.parametrize("chunk", [timedelta(days=1), timedelta(hours=7), timedelta(minutes=90)],
                         ids=["1d", "7h", "90m"])
def test_exactly_the_raw_samples_whatever_the_chunking(prom: RunningPrometheus, chunk: timedelta) -> None:
    got = collect(_reader(prom, chunk=chunk))
    want = expected()
    assert got.columns() == {k: v for k, v in want.items() if v}  # every sample once, none invented
    assert got.out.sections == ["samples"]
    assert set(got.failures()) == {f"{SRC}/ghost-pbx"}  # configured, no series: no data, never up
    n_chunks = -(-(END - START) // chunk)
    read = got.read_record()
    assert len(read["chunks"]) == n_chunks and read["failed_chunks"] == 0
    assert read["samples"] == sum(len(v) for v in want.values())
    assert read["skipped"] == 2  # the NaN and the 0.5 of pbx.b+1/fra
    assert read["version"] == prom.version
    # every chunk's raw answer is stored, and each day's record names the answers it came from
    for entry in read["chunks"]:
        assert json.loads(got.store.blobs[entry["sha256"]])["data"]["resultType"] == "matrix"
    raw = {e["sha256"] for e in read["chunks"]}
    for r in got.out.records:
        if r.kind == SAMPLES_KIND:
            assert r.payload["sha256"] in r.artifacts and set(r.artifacts) - {r.payload["sha256"]} <= raw
            assert len(r.artifacts) > 1


def test_day_records_count_up_down_first_last(prom: RunningPrometheus) -> None:
    """Numbers worked out by hand from the samples' description above."""
    days = collect(_reader(prom, chunk=timedelta(hours=7))).samples()
    assert len(days) == 5 * 3  # 5 (instance, vantage) pairs x 10, 11 and 12 March (12th: until 06:00)

    def day(instance: str, vantage: str, date: str) -> tuple[int, int, int, float, float]:
        p = days[f"{SRC}/{instance}/{vantage}/{date}"]
        assert p["source"] == "prometheus" and p["query"].startswith('probe_success{instance=~"')
        return p["count"], p["up"], p["down"], p["first"], p["last"]

    d10, d11, d12 = t0, t0 + 24 * H, t0 + 48 * H
    assert day("acme-pbx", "mil", "2025-03-10") == (1440 - 30, 1410, 0, d10, d11 - 60)  # the 30-min gap
    assert day("acme-pbx", "mil", "2025-03-11") == (1440, 1434, 6, d11, d12 - 60)  # 00:00 and 03:00-03:04
    assert day("acme-pbx", "mil", "2025-03-12") == (360, 360, 0, d12, d12 + 6 * H - 60)  # the period ends 06:00
    assert day("acme-pbx", "fra", "2025-03-11") == (1440, 1437, 3, d11 + 17, d12 - 60 + 17)
    assert day("beta-pbx", "fra", "2025-03-10") == (1438, 1438, 0, d10 + 17, d11 - 60 + 17)  # NaN, 0.5 skipped
    assert day("beta-pbx", "mil", "2025-03-11") == (1080, 1080, 0, d11, d12 - 60)  # the 6-hour gap
    assert day("gamma-pbx", SRC, "2025-03-12") == (360, 360, 0, d12 + 30, d12 + 6 * H - 30)


def test_chunk_boundary_sample_is_read_once(prom: RunningPrometheus) -> None:
    got = collect(_reader(prom, chunk=timedelta(days=1)))
    acme_mil = dict(got.columns()[("acme-pbx", "mil")])
    assert acme_mil[BOUNDARY] == 0  # the down sample exactly at 2025-03-11T00:00Z, the chunk boundary
    cols = got.columns()[("acme-pbx", "mil")]
    assert [t for t, _ in cols].count(BOUNDARY) == 1
    assert [t for t, _ in cols].count(BOUNDARY - 60) == 1 and [t for t, _ in cols].count(BOUNDARY + 60) == 1


def test_period_bounds_are_half_open(prom: RunningPrometheus) -> None:
    got = collect(_reader(prom, chunk=timedelta(hours=7)))
    mil = [t for t, _ in got.columns()[("acme-pbx", "mil")]]
    assert mil[0] == START.timestamp() and mil[-1] == END.timestamp() - 60  # END itself is the next period's


def test_range_selector_boundary_of_this_prometheus(prom: RunningPrometheus) -> None:
    """Documents the rule the chunking is built on: 2.x range selectors are CLOSED
    [time - range, time]; 3.x made them left-open (time - range, time]."""
    at = t0 + 2 * H  # a sample of pbx-a/mil sits exactly at `at` and at `at - 60`
    body = prom.get("/api/v1/query", query=f'{METRIC}{{instance="pbx-a",vantage="mil"}}[60s]', time=f"{at:.3f}")
    stamps = [float(v[0]) for v in body["data"]["result"][0]["values"]]  # type: ignore[index]
    if int(prom.version.split(".")[0]) < 3:
        assert stamps == [at - 60, at]  # both ends: the reader drops t >= chunk end itself
    else:
        assert stamps == [at]


def test_query_range_fills_the_start_of_a_gap_and_caps_points(prom: RunningPrometheus) -> None:
    """Why the reader never uses query_range: each step takes the last sample up to 5 minutes
    old, so the first minutes of a gap come back as samples that were never taken."""
    lo, hi = GAP_A_MIL[0] - 10 * M, GAP_A_MIL[1] + 10 * M
    body = prom.get("/api/v1/query_range", query=f'{METRIC}{{instance="pbx-a",vantage="mil"}}',
                    start=f"{lo:.0f}", end=f"{hi:.0f}", step="60")
    resampled = [float(v[0]) for v in body["data"]["result"][0]["values"]]  # type: ignore[index]
    filled = [t for t in resampled if GAP_A_MIL[0] <= t < GAP_A_MIL[1]]
    assert 4 <= len(filled) <= 5 and max(filled) <= GAP_A_MIL[0] + 4 * M  # look-back: 5 min after 09:59
    got = collect(_reader(prom), START, END)
    raw = [t for t, _ in got.columns()[("acme-pbx", "mil")] if GAP_A_MIL[0] <= t < GAP_A_MIL[1]]
    assert raw == []  # the raw samples show the gap as it is
    # and a month at 60 s is more than query_range will return at all
    month = prom.get("/api/v1/query_range", query=METRIC, start=f"{t0:.0f}", end=f"{t0 + 30 * 24 * H:.0f}",
                     step="60")
    assert month["status"] == "error" and "11,000 points" in str(month["error"])


def test_instances_without_series_are_no_data(prom: RunningPrometheus) -> None:
    got = collect(_reader(prom))
    error = got.failures()[f"{SRC}/ghost-pbx"]
    assert "pbx-ghost" in error and "no data" in error
    assert got.read_record()["instances_without_data"] == [{"label_value": "pbx-ghost", "instance": "ghost-pbx"}]
    assert not any(r.payload["instance"] == "ghost-pbx" for r in got.out.records if r.kind == SAMPLES_KIND)


def test_several_series_for_one_instance_and_vantage_are_not_merged(prom: RunningPrometheus) -> None:
    """Without the vantage label, mil and fra of pbx-a are two series for one (instance, vantage):
    double data is worse than none, so they are reported and left out."""
    got = collect(_reader(prom, vantage_label=None, chunk=timedelta(days=1)))
    assert set(got.columns()) == {("gamma-pbx", SRC)}
    ambiguous = [f.error for f in got.out.failures if f.subject and "/chunk/" in f.subject]
    assert len(ambiguous) == 3 * 2 and all("several series" in e for e in ambiguous)
    assert any('vantage="fra"' in e and "acme-pbx" in e for e in ambiguous)


def test_selector_with_its_own_matchers(prom: RunningPrometheus) -> None:
    got = collect(_reader(prom, series=f'{METRIC}{{vantage="fra"}}', instances={"pbx-a": "acme-pbx"}))
    assert set(got.columns()) == {("acme-pbx", "fra")}
    assert got.columns()[("acme-pbx", "fra")] == expected()[("acme-pbx", "fra")]


def test_read_yields_chunks_with_raw_answers(prom: RunningPrometheus) -> None:
    reader = _reader(prom, chunk=timedelta(hours=12))
    chunks = list(reader.read(START, START + timedelta(days=1)))
    assert [(lo, hi) for lo, hi, _, _ in chunks] == [(START, START + timedelta(hours=12)),
                                                     (START + timedelta(hours=12), START + timedelta(days=1))]
    for lo, hi, raw, samples in chunks:
        assert json.loads(raw)["status"] == "success"
        assert all(lo.timestamp() <= s.t < hi.timestamp() for s in samples)
    assert sum(len(c[3]) for c in chunks) == sum(
        1 for v in expected().values() for t, _ in v if t < (START + timedelta(days=1)).timestamp())


# -- queries, escaping, chunks (no server) -----------------------------------------------------


def test_selector_escapes_label_values_for_re2_and_promql() -> None:
    assert regex_escape("pbx.b+1") == r"pbx\.b\+1"
    assert promql_string(r'a\.b"c') == r'"a\\.b\"c"'
    reader = PrometheusReader("http://127.0.0.1:1", instances={"pbx.b+1": "b", "a|b": "c"})
    assert reader.selector() == r'probe_success{instance=~"a\\|b|pbx\\.b\\+1"}'
    reader = PrometheusReader("http://127.0.0.1:1", series='up{job="sip",}', instance_label="target",
                              instances={"x": "x"})
    assert reader.selector() == 'up{job="sip",target=~"x"}'
    for bad in ("probe_success[5m]", "rate(x[5m])", "sum(up)"):
        with pytest.raises(ValueError):
            PrometheusReader("http://127.0.0.1:1", series=bad, instances={"x": "x"})


def test_chunk_queries_cover_the_period_exactly() -> None:
    reader = PrometheusReader("http://127.0.0.1:1", instances={"x": "x"}, chunk=timedelta(days=1))
    chunks = reader.chunks(START, END)
    assert chunks[0][0] == START and chunks[-1][1] == END
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert reader.query_for(*chunks[0]) == ('probe_success{instance=~"x"}[86400s]', "2025-03-10T23:59:59.999Z")
    assert reader.query_for(*chunks[-1]) == ('probe_success{instance=~"x"}[21600s]', "2025-03-12T05:59:59.999Z")


# -- failures, against stub servers ------------------------------------------------------------


@dataclass
class Stub:
    """A tiny Prometheus look-alike: /api/v1/query answers by chunk (hour of `time`)."""

    behaviours: dict[int, str]
    release: threading.Event = field(default_factory=threading.Event)
    headers: list[str] = field(default_factory=list)
    buildinfo_status: int = 200


def _matrix(lo: float, hi: float, warnings: bool = False) -> bytes:
    # one sample before the chunk and one at its end too: the reader keeps only [lo, hi)
    values = [[t, "1"] for t in range(int(lo) - 60, int(hi) + 1, 60)]
    body: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": METRIC, "instance": "pbx-a", "vantage": "mil"}, "values": values}]}}
    if warnings:
        body["warnings"] = ["remote store fra-2 unavailable, results may be partial"]
    return json.dumps(body).encode()


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            stub.headers.append(self.headers.get("Authorization", ""))
            if url.path == "/api/v1/status/buildinfo":
                self._send(stub.buildinfo_status, b'{"status":"success","data":{"version":"stub-2.99"}}')
                return
            at = datetime.fromisoformat(parse_qs(url.query)["time"][0].replace("Z", "+00:00")).timestamp() + 0.001
            lo, hi = at - H, at
            behaviour = stub.behaviours.get(int((lo - t0) // H), "ok")
            try:
                if behaviour == "sleep":
                    stub.release.wait(30)
                    self._send(200, _matrix(lo, hi))
                elif behaviour == "500":  # a proxy echoing the request, token and all
                    self._send(500, f"<html>Internal error for Authorization: {self.headers['Authorization']}"
                                    f"</html>".encode())
                elif behaviour == "truncated":
                    body = _matrix(lo, hi)
                    self._send(200, body[: len(body) // 2])
                elif behaviour == "error":
                    self._send(422, b'{"status":"error","errorType":"execution","error":"query processing would '
                                    b'load too many samples into memory in query execution"}')
                elif behaviour == "warnings":
                    self._send(200, _matrix(lo, hi, warnings=True))
                else:
                    self._send(200, _matrix(lo, hi))
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@pytest.fixture
def stub_server() -> Iterator[Callable[[Stub], str]]:
    servers: list[tuple[ThreadingHTTPServer, Stub]] = []

    def start(stub: Stub) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, stub))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, stub in servers:
        stub.release.set()
        server.shutdown()
        server.server_close()


def test_failed_chunks_are_reported_and_the_others_kept(stub_server: Callable[[Stub], str]) -> None:
    stub = Stub({1: "sleep", 2: "500", 3: "truncated", 4: "error", 5: "warnings"})
    url = stub_server(stub)
    reader = PrometheusReader(url, instances={"pbx-a": "acme-pbx"}, vantage_label="vantage", timeout_s=0.5,
                              bearer_token=TOKEN, chunk=timedelta(hours=1))
    got = collect(reader, T0, T0 + timedelta(hours=7))
    failures = got.failures()
    at = {h: f"{SRC}/chunk/2025-03-10T{h:02d}:00:00Z" for h in range(7)}
    assert set(failures) == {at[1], at[2], at[3], at[4], at[5]}
    assert "timeout" in failures[at[1]]
    assert "HTTP 500" in failures[at[2]] and "Internal error" in failures[at[2]]
    assert "cut off or not JSON" in failures[at[3]]
    assert "HTTP 422: execution: query processing would load too many samples" in failures[at[4]]
    assert "may be incomplete" in failures[at[5]] and "fra-2 unavailable" in failures[at[5]]
    assert all(e.startswith("chunk 2025-03-10T") for e in failures.values())
    # the chunks that answered are kept, exactly [lo, hi) each (the stub also sent one sample each side)
    stamps = [t for t, _ in got.columns()[("acme-pbx", "mil")]]
    hours = Counter(int((t - t0) // H) for t in stamps)
    assert hours == {0: 60, 5: 60, 6: 60}
    assert got.out.sections == ["samples"]
    read = got.read_record()
    assert read["failed_chunks"] == 4 and read["version"] == "stub-2.99"  # no answer; the 5th warned
    assert read["chunks"][5]["warnings"] and read["chunks"][5]["samples"] == 60
    assert json.loads(got.store.blobs[read["chunks"][4]["sha256"]])["status"] == "error"  # kept as evidence
    # the token was sent and is nowhere in what was stored or reported
    assert f"Bearer {TOKEN}" in stub.headers
    stored = [f.error for f in got.out.failures] + [json.dumps(r.payload) for r in got.out.records]
    stored += [b.decode("utf-8", "replace") for b in got.store.blobs.values()]
    assert not any(TOKEN in s for s in stored)


def test_unreachable_prometheus_fails_the_source() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    reader = PrometheusReader(f"http://watcher:pw-53cret@127.0.0.1:{port}", instances={"pbx-a": "a"},
                              timeout_s=5, bearer_token=None)
    out = Emitter(SRC, Store().put)
    with pytest.raises(SourceFailed) as failed:
        PrometheusCollector(SRC, reader, start=START, end=END).collect(out)
    assert "unreachable" in str(failed.value) and "pw-53cret" not in str(failed.value)
    assert "127.0.0.1" in str(failed.value)
    assert out.records == []


def test_refused_token_fails_the_source(stub_server: Callable[[Stub], str]) -> None:
    url = stub_server(Stub({}, buildinfo_status=401))
    reader = PrometheusReader(url, instances={"pbx-a": "a"}, bearer_token=TOKEN, timeout_s=5)
    with pytest.raises(SourceFailed) as failed:
        PrometheusCollector(SRC, reader, start=START, end=END).collect(Emitter(SRC, Store().put))
    assert "HTTP 401" in str(failed.value) and TOKEN not in str(failed.value)


def test_read_raises_on_the_failing_chunk(stub_server: Callable[[Stub], str]) -> None:
    url = stub_server(Stub({1: "500"}))
    reader = PrometheusReader(url, instances={"pbx-a": "a"}, vantage_label="vantage", chunk=timedelta(hours=1),
                              timeout_s=5)
    chunks = reader.read(T0, T0 + timedelta(hours=3))
    first = next(chunks)
    assert len(first[3]) == 60
    with pytest.raises(PrometheusError, match="HTTP 500"):
        next(chunks)


def test_last_days_period_starts_at_utc_midnight() -> None:
    reader = PrometheusReader("http://127.0.0.1:1", instances={"x": "x"})
    now = datetime(2025, 4, 2, 13, 45, 12, 345000, tzinfo=UTC)
    collector = PrometheusCollector(SRC, reader, days=31, clock=lambda: now)
    assert collector.period() == (datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 4, 2, 13, 45, 12, tzinfo=UTC))
