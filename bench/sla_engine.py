"""Benchmark: the SLA availability engine alone (issue 5: at least 2 million samples/s).

    python bench/sla_engine.py [--instances 100] [--days 30] [--vantages 2] [--interval 60] [--runs 3]
                               [--lists] [--seed 5]

Generates, outside the timing, a month of probe samples per instance and vantage point —
realistic ones: 0–4 outages of 2–90 min seen by every vantage point, single failed samples on one
vantage point (soft failures), short gaps per vantage point and now and then a long one for all of
them, vantage points skewed against each other by up to a minute with ±1 s jitter, a few duplicated
and out-of-order samples (overlapping collection chunks) and one announced maintenance window —
then times `attest.sla.engine.evaluate` over every instance and prints samples per second (best and
median of --runs). With --lists the samples are handed over as Python lists (as read from the
JSON artifacts), so the conversion to numpy is timed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attest.sla.engine import SlaResult, evaluate

Samples = dict[str, tuple[np.ndarray, np.ndarray]]


def instance_samples(rng: np.random.Generator, start: float, end: float, interval: float,
                     vantages: int) -> tuple[Samples, list[tuple[float, float]]]:
    span = end - start
    outages = [(start + rng.uniform(0, span), rng.uniform(120, 5400)) for _ in range(rng.integers(0, 5))]
    long_gaps = [(start + rng.uniform(0, span), rng.uniform(600, 6 * 3600)) for _ in range(rng.integers(0, 2))]
    m0 = start + float(rng.integers(0, int(span) - 7200))
    maintenance = [(m0, m0 + 7200.0)]
    out: Samples = {}
    for v in range(vantages):
        skew = float(rng.integers(0, int(interval)))
        t = np.arange(start + skew, end, interval)
        t = t + rng.integers(-1, 2, t.size)  # ±1 s jitter
        up = np.ones(t.size, dtype=np.bool_)
        for o_start, length in outages:
            up[(t >= o_start) & (t < o_start + length)] = False
        flaps = rng.random(t.size) < 0.001  # soft failures, this vantage point only
        up[flaps] = False
        keep = rng.random(t.size) >= 0.002  # lost samples
        for g_start, length in [*long_gaps, (start + rng.uniform(0, span), rng.uniform(60, 900))]:
            keep &= ~((t >= g_start) & (t < g_start + length))
        t, up = t[keep], up[keep]
        # overlapping collection chunks: a few hundred samples repeated, out of order
        dup = rng.integers(0, t.size, 300)
        t = np.concatenate((t, t[dup]))
        up = np.concatenate((up, up[dup]))
        out[f"v{v}"] = (t, up)
    return out, maintenance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--vantages", type=int, default=2)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lists", action="store_true", help="pass Python lists, not numpy arrays")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    start = 1_775_080_800.0  # 2026-04-01 00:00 Europe/Rome
    end = start + args.days * 86400
    t0 = time.perf_counter()
    world: list[tuple[Mapping[str, tuple[Any, Any]], list[tuple[float, float]]]] = [
        instance_samples(rng, start, end, args.interval, args.vantages) for _ in range(args.instances)]
    if args.lists:
        world = [({v: (t.tolist(), u.tolist()) for v, (t, u) in s.items()}, m) for s, m in world]
    n = sum(len(t) for s, _ in world for t, _ in s.values())
    print(f"generated {args.instances} instances x {args.days} days x {args.vantages} vantage points at "
          f"{args.interval:g} s: {n:,} samples ({'Python lists' if args.lists else 'numpy arrays'}) "
          f"in {time.perf_counter() - t0:.1f} s")

    walls: list[float] = []
    results: list[SlaResult] = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        results = [evaluate(s, interval=args.interval, start=start, end=end, exclusions=m, target=0.999,
                            instance=f"i{k}") for k, (s, m) in enumerate(world)]
        walls.append(time.perf_counter() - t0)

    best, median = min(walls), statistics.median(walls)
    print(f"engine: best {best:.3f} s = {n / best / 1e6:.2f} M samples/s; median {median:.3f} s = "
          f"{n / median / 1e6:.2f} M samples/s (goal: >= 2 M samples/s)")
    outages = sum(r.outage_count for r in results)
    avail = [r.availability for r in results if r.availability is not None]
    print(f"sanity: {outages} outages, availability min {min(avail):.5f} / median {statistics.median(avail):.5f}, "
          f"coverage min {min(r.coverage or 0 for r in results):.4f}, "
          f"soft failures {sum(v.soft_failures for r in results for v in r.vantages):,}, "
          f"duplicates {sum(v.duplicates for r in results for v in r.vantages):,}")


if __name__ == "__main__":
    main()
