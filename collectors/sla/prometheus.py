"""Probe samples from the Prometheus HTTP API: the RAW samples of a per-instance 0/1 series.

Why not `query_range`: it evaluates an instant query at every step, so each point is "the last
sample at most 5 minutes old" (the look-back delta) -- the first 5 minutes of every gap come back
filled with the value before it -- and it refuses more than 11,000 points per series. A
range-vector selector evaluated once, `series{instance=~"a|b"}[86400s]` through `/api/v1/query`,
returns every stored sample in its window as it was written, so the period is read in chunks
(one day by default), one instant query per chunk.

The window boundary, and how chunks cover [start, end) exactly once:
  * Prometheus 2.x (verified on Debian 12's 2.42.0 by the tests, and in its `matrixIterSlice`:
    `if t >= mint`) selects the CLOSED window [time - range, time]: a sample exactly at the
    chunk's start would come back in two consecutive chunks.
  * Prometheus 3.0 made range selectors LEFT-OPEN, (time - range, time] (3.0 migration guide).
  The reader asks for `[<chunk length>]` at `time = chunk end - 1 ms` (RFC 3339 with
  milliseconds, so nothing is lost to float parsing): the window is [start - 1 ms, end - 1 ms]
  on 2.x and (start - 1 ms, end - 1 ms] = [start, end - 1 ms] on 3.x (TSDB timestamps are whole
  milliseconds), a superset of [start, end) either way, and it keeps only samples with
  start <= t < end. Consecutive chunks therefore neither repeat nor drop a sample whatever the
  server's version.

Values: 1 is up, 0 is down; anything else (NaN, 0.5, a histogram) is skipped and counted.
Prometheus itself drops staleness markers from range selectors. Instance label values are
matched with an anchored regex, each value escaped for RE2 and then for a PromQL string.

`PrometheusCollector` stores every chunk's raw response as an artifact, the samples as
`sla.samples` records (one per instance, vantage and UTC day, see samples.py) linked to the
responses they came from, and one `sla.prometheus.read` record describing the read (server
version, query, chunks, skipped values, instances without any series). A chunk that fails
(timeout, HTTP error, `status: error`, warnings, cut-off JSON) is a failure of section
`samples` with subject `<source>/chunk/<ISO start>`; the other chunks are kept. A server that
cannot be reached at all fails the source. The bearer token is sent, never shown.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url

from collectors.base import Emitter, SourceFailed
from collectors.sla.samples import SECTION, Sample, day_of, emit_columns, split_by_day
from evidence.scrub import REDACTED, scrub_text

SOURCE_TYPE = "prometheus"
READ_KIND = "sla.prometheus.read"
QUERY_PATH = "/api/v1/query"
BUILDINFO_PATH = "/api/v1/status/buildinfo"
MS = timedelta(milliseconds=1)

_METRIC = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_SELECTOR = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{(.*)\}$", re.DOTALL)
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def regex_escape(value: str) -> str:
    """*value* as an RE2 regex matching exactly itself (Prometheus anchors label regexes)."""
    return _RE2_META.sub(r"\\\1", value)


def promql_string(value: str) -> str:
    """*value* as a double-quoted PromQL string literal (Go escaping)."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def iso(ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC, with milliseconds only when there are some."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: give times in UTC")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // MS


def duration(ms: int) -> str:
    """A PromQL duration of exactly *ms* milliseconds."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class PrometheusError(Exception):
    """One request that gave no (complete) data. The message holds no secret. `raw` is the body
    when it was JSON (kept as evidence), `unreachable` says the server was not reached at all."""

    def __init__(self, message: str, *, raw: bytes | None = None, unreachable: bool = False,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw
        self.unreachable = unreachable
        self.status = status


Columns = tuple[list[float], list[int]]  # sample times (Unix seconds) and 0/1, in the order returned


@dataclass
class ChunkRead:
    """What one chunk's query gave. `warnings` non-empty means Prometheus said the answer may be
    incomplete: the samples are real and kept, the chunk is reported as a failure. The samples are
    kept as columns per (instance, vantage), in that order (not one object per sample)."""

    start: datetime
    end: datetime
    query: str
    raw: bytes
    series: dict[tuple[str, str], Columns] = field(default_factory=dict)
    skipped: int = 0  # values neither 0 nor 1 (NaN, 0.5, histograms)
    outside: int = 0  # samples outside [start, end) the window also returned (the other chunk's)
    label_values: set[str] = field(default_factory=set)  # instance label values with samples
    ambiguous: list[str] = field(default_factory=list)  # instance/vantage pairs with several series
    warnings: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(t) for t, _ in self.series.values())

    @property
    def samples(self) -> list[Sample]:
        return [Sample(t, vantage, instance, up == 1) for (instance, vantage), (times, ups) in self.series.items()
                for t, up in zip(times, ups, strict=True)]


def _tls_options(verify_tls: bool | str | Path) -> dict[str, Any]:
    if verify_tls is False:
        return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    if verify_tls is True:
        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    if Path(verify_tls).is_dir():
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": str(verify_tls)}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(verify_tls)}


class PrometheusReader:
    """Reads the raw samples of *series* for the configured instances, chunk by chunk.

    *series* is a metric name or a selector without range (`probe_success{job="sip"}`); the
    instance matcher is added to it. *instances* maps the value of *instance_label* to the SLA
    instance id. A series without *vantage_label* (or with no vantage label configured) gets
    *default_vantage* (the collector sets its source id)."""

    def __init__(self, base_url: str, *, series: str = "probe_success", instance_label: str = "instance",
                 vantage_label: str | None = None, instances: Mapping[str, str], timeout_s: float = 30.0,
                 verify_tls: bool | str | Path = True, bearer_token: str | None = None,
                 chunk: timedelta = timedelta(days=1), default_vantage: str | None = None) -> None:
        if not instances:
            raise ValueError("no instances to read: map at least one label value to an SLA instance id")
        for label in (instance_label, vantage_label):
            if label is not None and not _LABEL.match(label):
                raise ValueError(f"{label!r} is not a Prometheus label name")
        if chunk < timedelta(seconds=1) or chunk % MS:
            raise ValueError("chunk must be at least 1 s and a whole number of milliseconds")
        self.series = series.strip()
        if "[" in self.series or not (_METRIC.match(self.series) or _SELECTOR.match(self.series)):
            raise ValueError(f"series must be a metric name or a selector without range, not {series!r}")
        self.instance_label = instance_label
        self.vantage_label = vantage_label
        self.instances = dict(instances)
        self.timeout_s = timeout_s
        self.chunk = chunk
        self.default_vantage = default_vantage
        self._token = bearer_token or None
        url = parse_url(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("the Prometheus URL must be http(s)://host[:port][/path]")
        password = url.auth.partition(":")[2] if url.auth else None
        self._secrets = sorted((s for s in (self._token, url.auth, password) if s), key=len, reverse=True)
        self.shown_url = url._replace(auth=None).url  # never the user:password of the URL
        self._base = self.shown_url
        self._headers = {"Accept": "application/json"}
        if self._token:
            self._headers["Authorization"] = f"Bearer {self._token}"
        elif url.auth:
            self._headers["Authorization"] = "Basic " + base64.b64encode(url.auth.encode()).decode()
        tls = _tls_options(verify_tls) if url.scheme == "https" else {}
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False,
                                         timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), **tls)

    # -- queries -------------------------------------------------------------------------------

    def selector(self) -> str:
        """The instant-vector selector: *series* with the instance matcher added."""
        regex = "|".join(regex_escape(v) for v in sorted(self.instances))
        matcher = f"{self.instance_label}=~{promql_string(regex)}"
        found = _SELECTOR.match(self.series)
        if not found:
            return f"{self.series}{{{matcher}}}"
        name, inner = found.group(1) or "", found.group(2).strip().rstrip(",").strip()
        return f"{name}{{{inner + ',' if inner else ''}{matcher}}}"

    def chunks(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """[start, end) cut into consecutive half-open chunks of `chunk` (the last one shorter)."""
        lo, hi, step = to_ms(start), to_ms(end), self.chunk // MS
        if hi <= lo:
            raise ValueError("the period is empty: end must be after start")
        out = []
        while lo < hi:
            top = min(lo + step, hi)
            out.append((_dt(lo), _dt(top)))
            lo = top
        return out

    def query_for(self, start: datetime, end: datetime) -> tuple[str, str]:
        """(PromQL, evaluation time) for the chunk [start, end): the range is the chunk's
        length and the time 1 ms before its end (see the module docstring)."""
        lo, hi = to_ms(start), to_ms(end)
        return f"{self.selector()}[{duration(hi - lo)}]", iso(hi - 1)

    # -- HTTP ----------------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return scrub_text(text)

    def get(self, path: str, fields: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET *path*: (HTTP status, body). Raises PrometheusError when no answer came."""
        try:
            reply = self._pool.request("GET", self._base + path, fields=dict(fields or {}), headers=self._headers,
                                       redirect=False, preload_content=True)
        except (ConnectTimeoutError, NewConnectionError) as exc:
            raise PrometheusError(self.clean(f"cannot connect to {self.shown_url}: {_reason(exc)}"),
                                  unreachable=True) from None
        except (ReadTimeoutError, Urllib3Timeout):
            raise PrometheusError(f"no answer within the {self.timeout_s:g} s timeout") from None
        except SSLError as exc:
            raise PrometheusError(self.clean(f"TLS with {self.shown_url} failed: {_reason(exc)}"),
                                  unreachable=True) from None
        except ProtocolError as exc:
            raise PrometheusError(self.clean(f"the connection broke: {_reason(exc)}")) from None
        except HTTPError as exc:
            raise PrometheusError(self.clean(f"HTTP failure: {_reason(exc)}")) from None
        return reply.status, reply.data

    def buildinfo(self) -> dict[str, Any] | None:
        """The server's build information (`version`…), or None when the endpoint is missing
        (e.g. behind a proxy exposing only queries). Unreachable or refused: PrometheusError."""
        status, body = self.get(BUILDINFO_PATH)
        if status in (401, 403):
            raise PrometheusError(f"{self.shown_url} refused the credentials (HTTP {status})", status=status,
                                  unreachable=True)
        if status != 200:
            return None
        try:
            data = json.loads(body).get("data")
        except (ValueError, AttributeError):
            return None
        return data if isinstance(data, dict) else None

    def read_chunk(self, start: datetime, end: datetime) -> ChunkRead:
        """Query one chunk and parse its samples. Raises PrometheusError when it gave no data."""
        query, at = self.query_for(start, end)
        status, raw = self.get(QUERY_PATH, {"query": query, "time": at})
        answer: Any = None
        json_raw: bytes | None = None
        problem: str | None = None
        try:
            answer, json_raw = json.loads(raw), raw
        except ValueError as exc:
            problem = f"the answer is cut off or not JSON ({len(raw)} bytes: {exc})"
        if status != 200:
            detail = _error_of(answer) if json_raw is not None else _snippet(raw)
            raise PrometheusError(self.clean(f"HTTP {status}{': ' + detail if detail else ''}"), raw=json_raw,
                                  status=status, unreachable=status in (401, 403))
        if problem is not None:
            raise PrometheusError(self.clean(problem), status=status)
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise PrometheusError(self.clean(f"Prometheus answered {_error_of(answer) or 'no success status'}"),
                                  raw=raw, status=status)
        data = answer.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"),
                                                                                                list):
            kind = data.get("resultType") if isinstance(data, dict) else None
            raise PrometheusError(f"expected a matrix result, got {kind or 'no result'}", raw=raw, status=status)
        got = self._parse(start, end, query, raw, data["result"])
        warnings = answer.get("warnings")
        if warnings:
            got.warnings = [self.clean(str(w))[:300] for w in (warnings if isinstance(warnings, list) else [warnings])]
        return got

    def _parse(self, start: datetime, end: datetime, query: str, raw: bytes, result: list[Any]) -> ChunkRead:
        lo, hi = to_ms(start), to_ms(end)
        got = ChunkRead(start, end, query, raw)
        per_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for series in result:
            metric = series.get("metric") if isinstance(series, dict) else None
            if not isinstance(metric, dict):
                continue
            label_value = metric.get(self.instance_label)
            instance = self.instances.get(label_value) if isinstance(label_value, str) else None
            values = series.get("values")
            got.skipped += _count(series.get("histograms"))
            if instance is None or not isinstance(values, list):
                got.skipped += _count(values)
                continue
            vantage = metric.get(self.vantage_label) if self.vantage_label else None
            vantage = str(vantage) if vantage else (self.default_vantage or SOURCE_TYPE)
            per_key[(instance, vantage)].append(series)
            assert isinstance(label_value, str)
            got.label_values.add(label_value)
        for (instance, vantage), group in sorted(per_key.items()):
            if len(group) > 1:  # which one is the probe? Not ours to guess: no data rather than double data
                labels = "; ".join(_labels(s["metric"]) for s in group)
                got.ambiguous.append(f"{instance}/{vantage}: {len(group)} series ({labels})")
                continue
            times, ups = self._columns(group[0]["values"], lo / 1000, hi / 1000, got)
            if times:
                got.series[(instance, vantage)] = (times, ups)
        return got

    @staticmethod
    def _columns(values: list[Any], lo: float, hi: float, got: ChunkRead) -> Columns:
        """The 0/1 samples of one series with lo <= t < hi (Unix seconds; Prometheus writes whole
        milliseconds, which compare exactly as the same decimal on both sides), as columns."""
        if values:  # the usual answer: [number, "0"|"1"] pairs, all in the window -- checked as a whole
            try:
                stamps, texts = zip(*values, strict=True)
                if set(map(type, stamps)) <= {int, float} and set(texts) <= {"0", "1"}:
                    times = list(map(float, stamps))
                    if all(lo <= t < hi for t in times):
                        return times, [1 if text == "1" else 0 for text in texts]
            except (TypeError, ValueError):
                pass  # something else in there: point by point below
        times, ups = [], []
        for point in values:
            try:
                stamp, text = point
                t = float(stamp)
            except (TypeError, ValueError):
                got.skipped += 1
                continue
            if t < lo or t >= hi:
                got.outside += 1
                continue
            if text == "1" or text == "0":
                times.append(t)
                ups.append(1 if text == "1" else 0)
            else:
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    value = math.nan
                if value in (0.0, 1.0):  # "1.0", "0e0": not how Prometheus writes them, still 0/1
                    times.append(t)
                    ups.append(1 if value == 1.0 else 0)
                else:
                    got.skipped += 1
        return times, ups

    def read(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, bytes, list[Sample]]]:
        """(chunk start, chunk end, raw response, samples) for each chunk of [start, end), in order.
        Raises PrometheusError at the first chunk that fails (the collector goes on instead)."""
        for lo, hi in self.chunks(start, end):
            got = self.read_chunk(lo, hi)
            yield lo, hi, got.raw, got.samples

    def close(self) -> None:
        self._pool.clear()


def _dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + ms * MS


def _count(values: Any) -> int:
    return len(values) if isinstance(values, list) else 0


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or (exc.args[-1] if exc.args else None) or exc
    return str(inner)[:300]


def _labels(metric: dict[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__") + "}"


def _error_of(answer: Any) -> str:
    if isinstance(answer, dict) and (answer.get("error") or answer.get("errorType")):
        kind, text = answer.get("errorType"), str(answer.get("error") or "")
        return f"{kind}: {text[:300]}" if kind else text[:300]
    return ""


def _snippet(raw: bytes) -> str:
    text = " ".join(raw[:200].decode("utf-8", "replace").split())
    return text + ("…" if len(raw) > 200 else "")


@dataclass
class PrometheusCollector:
    """Reads the period (start/end, or the last `days` days up to now, starting at UTC midnight)
    chunk by chunk and stores what it read; see the module docstring."""

    source_id: str
    reader: PrometheusReader
    start: datetime | None = None
    end: datetime | None = None
    days: int | None = None
    interval_s: float | None = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    source_type: str = SOURCE_TYPE

    def period(self) -> tuple[datetime, datetime]:
        if self.start is not None and self.end is not None:
            return self.start, self.end
        if self.days is None:
            raise ValueError("give the period: start and end, or days")
        end = self.clock().astimezone(UTC).replace(microsecond=0)
        start = (end - timedelta(days=self.days)).replace(hour=0, minute=0, second=0)
        return start, end

    def collect(self, out: Emitter) -> None:
        reader = self.reader
        if reader.default_vantage is None:
            reader.default_vantage = self.source_id
        start, end = self.period()
        try:
            build = reader.buildinfo()
        except PrometheusError as exc:
            raise SourceFailed(f"Prometheus {reader.shown_url} unreachable: {exc.message}") from None
        try:
            _Run(self, out, build).read(start, end)
        finally:
            reader.close()


class _Run:
    def __init__(self, collector: PrometheusCollector, out: Emitter, build: dict[str, Any] | None) -> None:
        self.c, self.out, self.reader, self.src = collector, out, collector.reader, collector.source_id
        self.build = build
        # UTC day -> (instance, vantage) -> parts of its columns not yet stored, in the order read
        self.pending: dict[str, dict[tuple[str, str], list[Columns]]] = defaultdict(dict)
        self.responses: dict[str, list[str]] = defaultdict(list)  # UTC day -> artifacts of its chunks
        self.seen: set[str] = set()
        self.chunk_log: list[dict[str, Any]] = []
        self.totals: Counter[str] = Counter()

    def read(self, start: datetime, end: datetime) -> None:
        chunks = self.reader.chunks(start, end)
        unreachable = 0
        for lo, hi in chunks:
            entry: dict[str, Any] = {"start": iso(to_ms(lo)), "end": iso(to_ms(hi))}
            entry["query"], entry["time"] = self.reader.query_for(lo, hi)
            try:
                got = self.reader.read_chunk(lo, hi)
            except PrometheusError as exc:
                unreachable += exc.unreachable
                entry["error"] = exc.message
                if exc.raw is not None:
                    entry["sha256"] = self.out.artifact(exc.raw, "application/json")
                self._fail(lo, hi, exc.message)
            else:
                self._keep(lo, hi, got, entry)
            self.chunk_log.append(entry)
            self._store_days_before(day_of(to_ms(hi) / 1000))
        self._store_days_before(None)
        missing = {v: i for v, i in sorted(self.reader.instances.items()) if v not in self.seen}
        for value, instance in missing.items():
            self.out.failed(SECTION, f"no samples of {self.reader.selector()} for {self.reader.instance_label}="
                                     f"{promql_string(value)} (SLA instance {instance}) from {iso(to_ms(start))} "
                                     f"to {iso(to_ms(end))}: no data, never up", f"{self.src}/{instance}")
        self.out.record(READ_KIND, f"{self.src}/read", {
            "url": self.reader.shown_url, "version": (self.build or {}).get("version"),
            "series": self.reader.series, "query": self.reader.selector(),
            "instance_label": self.reader.instance_label, "vantage_label": self.reader.vantage_label,
            "start": iso(to_ms(start)), "end": iso(to_ms(end)), "chunk_s": self.reader.chunk.total_seconds(),
            "chunks": self.chunk_log, "samples": self.totals["samples"], "skipped": self.totals["skipped"],
            "failed_chunks": sum(1 for c in self.chunk_log if "error" in c),  # no answer (warnings: answered)
            "instances_without_data": [{"label_value": v, "instance": i} for v, i in missing.items()],
        }, artifacts=tuple(c["sha256"] for c in self.chunk_log if "sha256" in c))
        if chunks and unreachable == len(chunks):
            raise SourceFailed(f"Prometheus {self.reader.shown_url} unreachable: every chunk failed "
                               f"({self.chunk_log[0]['error']})")
        self.out.completed(SECTION)

    def _fail(self, lo: datetime, hi: datetime, problem: str) -> None:
        self.out.failed(SECTION, f"chunk {iso(to_ms(lo))} to {iso(to_ms(hi))}: {problem}",
                        f"{self.src}/chunk/{iso(to_ms(lo))}")

    def _keep(self, lo: datetime, hi: datetime, got: ChunkRead, entry: dict[str, Any]) -> None:
        sha = self.out.artifact(got.raw, "application/json")
        got.raw = b""
        count = got.count
        entry.update({"sha256": sha, "samples": count, "skipped": got.skipped})
        self.totals.update(samples=count, skipped=got.skipped)
        self.seen |= got.label_values
        for problem in got.ambiguous:
            self._fail(lo, hi, f"several series for one instance and vantage, none kept: {problem}; "
                               f"narrow the series selector or set the vantage label")
        if got.warnings:
            entry["warnings"] = got.warnings
            self._fail(lo, hi, "Prometheus warned the answer may be incomplete (samples kept): "
                               + "; ".join(got.warnings))
        first, last = day_of(to_ms(lo) / 1000), day_of((to_ms(hi) - 1) / 1000)
        day = first
        while True:
            self.responses[day].append(sha)
            if day >= last:
                break
            day = (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%d")
        for key, (times, ups) in got.series.items():
            for sample_day, positions in split_by_day(times):
                part = ((times, ups) if positions is None
                        else ([times[i] for i in positions], [ups[i] for i in positions]))
                self.pending[sample_day].setdefault(key, []).append(part)

    def _store_days_before(self, cutoff: str | None) -> None:
        """Store the days before *cutoff* (all with None): no later chunk can add to them."""
        for day in sorted(d for d in set(self.pending) | set(self.responses) if cutoff is None or d < cutoff):
            parts, shas = self.pending.pop(day, {}), tuple(dict.fromkeys(self.responses.pop(day, [])))

            def record(kind: str, subject: str, payload: dict[str, Any], *, artifacts: tuple[str, ...] = (),
                       _shas: tuple[str, ...] = shas) -> None:
                self.out.record(kind, subject, payload, artifacts=artifacts + _shas)

            extra: dict[str, Any] = {"source": SOURCE_TYPE, "query": self.reader.selector(),
                                     "url": self.reader.shown_url}
            if self.c.interval_s is not None:
                extra["interval_s"] = self.c.interval_s
            series: dict[tuple[str, str], dict[str, list[Any]]] = {}
            for key, chunks in parts.items():  # a day's parts, chunk after chunk
                if len(chunks) == 1:
                    series[key] = {"t": chunks[0][0], "up": chunks[0][1]}
                else:
                    series[key] = {"t": [t for times, _ in chunks for t in times],
                                   "up": [u for _, ups in chunks for u in ups]}
            emit_columns(record, self.out.artifact, self.src, series, **extra)
