"""Benchmark: a month of SLA probe samples from a REAL Prometheus, collected into a real evidence
log and evaluated (issue 5: 100 instances x 30 days x 2 vantage points at 60 s, 8.6 million
samples, collected and evaluated in under 60 s; the engine alone at least 2 million samples/s).

    python bench/sla.py [--instances 100] [--vantages 2] [--interval 60] [--month 2025-04]
                        [--chunk-hours 24] [--seed 5] [--profile FILE] [--keep]

Preparation (timed and printed, not part of the measured figure):
  * a child process generates the month as OpenMetrics -- per instance 0-4 outages of 2-90 min
    seen by every vantage point, one 2-hour maintenance window (down, announced: excluded), single
    failed samples on one vantage point (soft failures), lost samples, a short gap per vantage
    point and now and then a long one for all of them, vantage points skewed against each other
    by up to a minute with +-1 s jitter -- and the engine's results on those very samples (the
    expected figures);
  * `promtool tsdb create-blocks-from openmetrics --max-block-duration=744h` turns it into TSDB
    blocks (a month long past) as big as a long-running Prometheus compacts them. (With promtool's
    default 2-hour blocks it reads the whole input once per block: 360 passes, hours for a month;
    the blocks' size does not change what the queries return);
  * `prometheus` serves them on a free loopback port (as tests/collectors/sla/prom.py does);
  * a demo PKI for the run's signed checkpoint and a fresh SQLite evidence log.

Measured:
  (a) collection: `PrometheusCollector` over the whole month (one range-vector query per chunk)
      into the evidence log, as `attest.collect.run_collection` does it: begin_run, an Emitter whose
      sink appends to the log every few thousand records, the final flush, finish_run (checkpoint);
  (b) evaluation: the `sla.samples` records read back from the log, their artifacts loaded and
      concatenated per instance and vantage point as `attest.controls.sla_evidence.gather` does
      (get_artifact + load_columns + numpy), then `attest.sla.evaluate` for every instance.
Then the figures are checked against the expected ones (exactly), and the engine alone is timed on
the same arrays.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attest.sla.engine import SlaResult, evaluate
from collectors.base import Emitter
from collectors.sla.prometheus import PrometheusCollector, PrometheusReader
from collectors.sla.samples import SAMPLES_KIND, load_columns
from evidence.log import EvidenceLog
from tests.collectors.sla.prom import _free_port, _wait_ready

METRIC = "probe_success"
SOURCE = "prom-bench"
VANTAGES = ("mil-1", "fra-1", "ams-1", "par-1", "vie-1")
TARGET = 0.999
GOAL_S = 60.0
ENGINE_GOAL = 2e6

Series = dict[str, tuple[np.ndarray, np.ndarray]]


def label(k: int) -> str:
    return f"pbx-{k:03d}"


def instance_id(k: int) -> str:
    return f"tenant{k % 40:02d}-pbx-{k:03d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


# -- the world (run in a child process, so its memory is not in the measured peak RSS) -------------


def instance_samples(rng: np.random.Generator, start: float, end: float, interval: float,
                     vantages: int) -> tuple[Series, tuple[float, float]]:
    """Integer-second samples of one instance per vantage point, sorted, no duplicates (the TSDB
    keeps one sample per series and millisecond), and its maintenance window."""
    span = end - start
    outages = [(start + float(rng.integers(0, int(span))), float(rng.integers(120, 5400)))
               for _ in range(rng.integers(0, 5))]
    long_gaps = [(start + float(rng.integers(0, int(span))), float(rng.integers(600, 6 * 3600)))
                 for _ in range(rng.integers(0, 2))]
    m0 = start + float(rng.integers(0, int(span) - 7200) // 60 * 60)
    window = (m0, m0 + 7200.0)
    out: Series = {}
    for v in range(vantages):
        skew = float(rng.integers(0, int(interval)))
        t = np.arange(start + skew, end, interval)
        t = t + rng.integers(-1, 2, t.size)  # +-1 s jitter
        t = t[(t >= start) & (t < end)]
        up = np.ones(t.size, dtype=np.bool_)
        for o_start, length in [*outages, (window[0], window[1] - window[0])]:
            up[(t >= o_start) & (t < o_start + length)] = False
        up[rng.random(t.size) < 0.001] = False  # soft failures, this vantage point only
        keep = rng.random(t.size) >= 0.002  # lost samples
        for g_start, length in [*long_gaps, (start + float(rng.integers(0, int(span))), float(rng.integers(60, 900)))]:
            keep &= ~((t >= g_start) & (t < g_start + length))
        out[VANTAGES[v]] = (t[keep], up[keep])
    return out, window


def fingerprint(r: SlaResult) -> dict[str, Any]:
    return {"up_s": r.up_s, "down_s": r.down_s, "unknown_s": r.unknown_s, "excluded_s": r.excluded_s,
            "availability": r.availability, "coverage": r.coverage, "mttr_s": r.mttr_s, "longest_s": r.longest_s,
            "outages": [[o.start, o.end] for o in r.outages],
            "vantages": [[v.vantage, v.samples, v.duplicates, v.soft_failures, v.confirmed_failures, v.covered_s]
                         for v in r.vantages]}


def generate(directory: Path, instances: int, vantages: int, interval: float, month: str, seed: int) -> None:
    """Write samples.om (OpenMetrics for promtool) and expected.json (windows, engine figures)."""
    rng = np.random.default_rng(seed)
    start_dt, end_dt = month_bounds(month)
    start, end = start_dt.timestamp(), end_dt.timestamp()
    expected: dict[str, Any] = {"start": start, "end": end, "interval": interval, "instances": {}}
    n = 0
    with (directory / "samples.om").open("w", encoding="ascii", newline="\n") as fh:
        fh.write(f"# TYPE {METRIC} gauge\n")
        for k in range(instances):
            series, window = instance_samples(rng, start, end, interval, vantages)
            for vantage, (t, up) in sorted(series.items()):
                head = f'{METRIC}{{instance="{label(k)}",vantage="{vantage}"}} '
                fh.write("".join([f"{head}{u} {s}\n" for u, s in zip(up.astype(np.int8).tolist(),
                                                                      t.astype(np.int64).tolist(), strict=True)]))
                n += t.size
            r = evaluate(series, interval=interval, start=start, end=end, exclusions=[window], target=TARGET,
                         instance=instance_id(k))
            expected["instances"][instance_id(k)] = {"window": window, "figures": fingerprint(r)}
        fh.write("# EOF\n")
    expected["samples"] = n
    (directory / "expected.json").write_text(json.dumps(expected))


# -- the real Prometheus -----------------------------------------------------------------------------


@contextmanager
def prometheus(data: Path, work: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if not binary:
        sys.exit("prometheus is not installed (apt-get install prometheus; scripts/setup.sh --dev)")
    config, log = work / "prometheus.yml", work / "prometheus.log"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=3650d",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- measured ------------------------------------------------------------------------------------------


def gather(log: EvidenceLog, run_id: int, start: float, end: float) -> tuple[dict[str, Series], dict[str, float],
                                                                              int]:
    """The samples per instance and vantage point, as attest.controls.sla_evidence.gather builds them."""
    first_day = datetime.fromtimestamp(start - 86400, UTC).strftime("%Y-%m-%d")
    last_day = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d")
    chunks: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    intervals: dict[str, float] = {}
    records = 0
    for rec in log.records(kind=SAMPLES_KIND, run_id=run_id):
        p = rec.payload
        if not (first_day <= str(p.get("day")) <= last_day):
            continue
        cols = load_columns(log.get_artifact(p["sha256"]))
        chunks.setdefault((p["instance"], p["vantage"]), []).append((cols["t"], cols["up"]))
        intervals.setdefault(p["instance"], float(p.get("interval_s") or 60.0))
        records += 1
    found: dict[str, Series] = {}
    for (instance, vantage), parts in chunks.items():
        times = np.concatenate([np.asarray(t, dtype=np.float64) for t, _ in parts])
        ups = np.concatenate([np.asarray(u, dtype=bool) for _, u in parts])
        keep = (times >= start - 86400) & (times < end)
        found.setdefault(instance, {})[vantage] = (times[keep], ups[keep])
    return found, intervals, records


def evaluate_all(found: dict[str, Series], intervals: dict[str, float], expected: dict[str, Any]) -> list[SlaResult]:
    start, end = expected["start"], expected["end"]
    return [evaluate(series, interval=intervals.get(instance, 60.0), start=start, end=end,
                     exclusions=[tuple(expected["instances"][instance]["window"])], target=TARGET, instance=instance)
            for instance, series in sorted(found.items())]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--vantages", type=int, default=2, choices=range(1, len(VANTAGES) + 1))
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--month", default="2025-04", help="a month long past (promtool writes blocks, not the head)")
    ap.add_argument("--chunk-hours", type=float, default=24.0, help="the collector's chunk (one query each)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--profile", type=Path, help="write a cProfile of (a)+(b) here and print its top")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.generate:
        generate(args.generate, args.instances, args.vantages, args.interval, args.month, args.seed)
        return 0
    promtool = shutil.which("promtool")
    if not promtool:
        sys.exit("promtool is not installed (apt-get install prometheus; scripts/setup.sh --dev)")

    work = Path(tempfile.mkdtemp(prefix="attest-bench-sla-"))
    try:
        return run(args, work, promtool)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, promtool: str) -> int:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--generate", str(work), "--instances", str(args.instances),
                    "--vantages", str(args.vantages), "--interval", str(args.interval), "--month", args.month,
                    "--seed", str(args.seed)], check=True)
    expected = json.loads((work / "expected.json").read_text())
    n = int(expected["samples"])
    om_mb = (work / "samples.om").stat().st_size / 1e6
    print(f"preparation: generated {args.instances} instances x {args.vantages} vantage points x month {args.month} "
          f"at {args.interval:g} s: {n:,} samples, {om_mb:.0f} MB of OpenMetrics, in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", "--max-block-duration=744h",
                    str(work / "samples.om"), str(work / "data")], check=True, capture_output=True)
    blocks = sum(1 for p in (work / "data").iterdir() if p.is_dir() and p.name.startswith("01"))
    print(f"preparation: promtool tsdb create-blocks-from openmetrics: {time.perf_counter() - t0:.1f} s "
          f"({blocks} blocks)")
    (work / "samples.om").unlink()

    from attest.pki import create_demo_pki
    from attest.signing import ProviderSigner

    pki = create_demo_pki(work / "pki", "Bench", b"bench")
    signer = ProviderSigner.load(pki.signer_p12, b"bench")
    start_dt, end_dt = month_bounds(args.month)
    t0 = time.perf_counter()
    with prometheus(work / "data", work) as url:
        print(f"preparation: prometheus ready at {url} in {time.perf_counter() - t0:.1f} s")
        log = EvidenceLog.open(f"sqlite:///{work / 'attest.db'}", work / "evidence")
        reader = PrometheusReader(url, series=METRIC, vantage_label="vantage", timeout_s=120,
                                  instances={label(k): instance_id(k) for k in range(args.instances)},
                                  chunk=timedelta(hours=args.chunk_hours))
        collector = PrometheusCollector(SOURCE, reader, start=start_dt, end=end_dt, interval_s=args.interval)
        profiler = cProfile.Profile() if args.profile else None
        rss0 = peak_rss_mb()
        if profiler:
            profiler.enable()

        # (a) collection into the evidence log, as attest.collect.run_collection does it
        ta = time.perf_counter()
        run_id = log.begin_run("collect", signer)
        out = Emitter(SOURCE, log.put_artifact, sink=lambda batch: len(log.append(run_id, batch)))
        collector.collect(out)
        out.flush()
        status = "partial" if out.failures else "ok"
        log.finish_run(run_id, status, signer, {"sources": [
            {"source": SOURCE, "type": "prometheus", "status": status, "records": out.stored,
             "sections": out.sections, "failures": [f.as_dict() for f in out.failures[:100]]}]})
        tb = time.perf_counter()

        # (b) evaluation from the log, as SLA-01 does it
        found, intervals, sample_records = gather(log, run_id, expected["start"], expected["end"])
        tg = time.perf_counter()
        results = evaluate_all(found, intervals, expected)
        tc = time.perf_counter()
        if profiler:
            profiler.disable()
        rss1 = peak_rss_mb()

    collect_s, gather_s, engine_s, total = tb - ta, tg - tb, tc - tg, tc - ta
    loaded = sum(len(t) for s in found.values() for t, _ in s.values())
    artifacts = sum(1 for p in (work / "evidence" / "blobs").rglob("*") if p.is_file())
    db_mb = (work / "attest.db").stat().st_size / 1e6
    blobs_mb = sum(p.stat().st_size for p in (work / "evidence" / "blobs").rglob("*") if p.is_file()) / 1e6
    print(f"(a) collection: {collect_s:.1f} s = {n / collect_s / 1e6:.2f} M samples/s; {out.stored:,} records "
          f"({sample_records:,} sla.samples), {artifacts:,} artifacts ({blobs_mb:.0f} MB of blobs, "
          f"{db_mb:.1f} MB of SQLite), {len(out.failures)} failures, status {status}")
    print(f"(b) evaluation: {gather_s + engine_s:.1f} s (gather from the log {gather_s:.1f} s, "
          f"engine {engine_s:.1f} s) for {len(results)} instances, {loaded:,} samples")
    verdict = "OK" if total < GOAL_S else "OVER"
    print(f"(a)+(b): {total:.1f} s = {n / total / 1e6:.2f} M samples/s  (goal: < {GOAL_S:g} s: {verdict})")
    print(f"peak RSS: {rss1:.0f} MB (before (a): {rss0:.0f} MB)")

    mismatched = [r.instance for r in results
                  if fingerprint(r) != expected["instances"][r.instance]["figures"]]
    missing = set(expected["instances"]) - {r.instance for r in results}
    if loaded != n or mismatched or missing:
        print(f"MISMATCH: {loaded:,} samples loaded of {n:,}; figures differ for {mismatched[:5]} "
              f"({len(mismatched)}); missing instances {sorted(missing)[:5]}")
    else:
        print(f"check: all {len(results)} instances' figures equal the ones computed on the generated samples")
    avail = [r.availability for r in results if r.availability is not None]
    print(f"sanity: {sum(r.outage_count for r in results)} outages, availability min {min(avail):.5f} / median "
          f"{statistics.median(avail):.5f}, coverage min {min(r.coverage or 0 for r in results):.4f}, "
          f"soft failures {sum(v.soft_failures for r in results for v in r.vantages):,}")

    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate_all(found, intervals, expected)
        walls.append(time.perf_counter() - t0)
    best = min(walls)
    print(f"engine alone on the same arrays: best of 3 {best:.3f} s = {loaded / best / 1e6:.2f} M samples/s "
          f"(goal: >= {ENGINE_GOAL / 1e6:g} M samples/s: {'OK' if loaded / best >= ENGINE_GOAL else 'UNDER'})")

    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    log.close()
    return 0 if total < GOAL_S and not mismatched and not missing and loaded == n else 1


if __name__ == "__main__":
    sys.exit(main())
