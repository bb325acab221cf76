"""The availability engine (issue 5, item 2): probe samples of one instance → UP/DOWN/UNKNOWN time,
outages and the SLA figures, vectorised with numpy on exact change points (no time grid).

Rules (each one is a decision of this module; the attestation should quote them):

1. **A sample stands for its own interval.** A sample taken at t stands for [t, t + interval) and
   for nothing else: a missing sample is a gap (UNKNOWN for that vantage point), never "the
   previous state carried on". If the next sample of the same vantage point comes before
   t + interval (irregular probing), the later sample supersedes the earlier one from its own time
   on, so each vantage point's state is a step function of time.
2. **Input hygiene.** Samples are sorted by time (out-of-order input is fine and counted).
   Duplicates — same vantage point, same time — count once; if they disagree, **down wins** (the
   merged sample is a failed one). Both are reported per vantage point in `VantageStats`.
3. **Confirmation (debounce).** Per vantage point, failed samples count as DOWN only in a run of at
   least `confirm_after` (N, default 2) consecutive failed samples, and then all of the run counts,
   from its first sample (backdated). Two samples are *consecutive* when they are adjacent in the
   vantage point's sorted, de-duplicated samples and the later one was taken at most
   1.5 × interval after the earlier (t₂ − t₁ ≤ 1.5 × interval); a longer silence breaks the run.
   Failed samples in a shorter run are *soft failures* and count as UP for that vantage point.
   Samples outside the period still take part in confirmation (a run that starts before the period
   confirms a failure inside it); only time inside the period is counted.
4. **Majority of the vantage points with data.** At each instant, among the vantage points that have
   data then (a sample's span covers the instant): DOWN when more of them report a confirmed failure
   than not, UP when more report success, UNKNOWN on a tie or when none has data. Vantage points are
   not assumed aligned: clock skew simply shifts one step function against the other (so a skewed
   outage has UNKNOWN edges where the vantage points disagree).
5. **Exclusions.** The exclusion windows ([start, end), announced maintenance, already filtered by
   the caller) are united, clipped to the period and removed from everything: excluded time is
   neither up, down nor unknown. Everything is clipped to the period [start, end).
6. **Outages.** An outage is a maximal DOWN span: from the first failing sample to the first good one.
   Anything that is not DOWN ends it — UP, UNKNOWN or an excluded window — so DOWN, UNKNOWN, DOWN is
   two outages, and an outage running into a maintenance window ends where the window starts. An
   outage crossing the period's start or end is clipped to the period. The outages' durations add
   up to the down seconds exactly.
7. **Figures.** availability = up / (up + down); coverage = (up + down) / (period − excluded);
   MTTR = mean outage duration (time to restore, the whole DOWN span); longest = longest outage
   (0 when none); error budget = (1 − target) × (period − excluded), error budget used = down /
   error budget. With no up or down time availability is None (undefined — never 100 %); with no
   outage MTTR is None; with a zero budget (target 1 or everything excluded) the budget used is
   None.
8. **Conservative mode** counts UNKNOWN as down everywhere: availability = up / (up + down +
   unknown), coverage is 1 (all non-excluded time is accounted for), outages are the maximal spans
   of DOWN-or-UNKNOWN time (so DOWN, UNKNOWN, DOWN is one outage), and MTTR, longest outage and
   error budget used follow. `up_s`, `down_s` and `unknown_s` stay the measured ones in both modes;
   `counted_down_s` is what the figures used.
9. **Exactness.** Times are float64 seconds and every boundary is exact (no grid, no epsilon): for
   integer-second inputs below 2**53 all second counts are exact, availability and coverage are the
   correctly rounded quotients of exact integers, and `*_fraction()` give them exactly.

A tenant's figure is its worst instance's: see `merge_worst`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONSECUTIVE_FACTOR",
    "Outage",
    "Segment",
    "SlaResult",
    "State",
    "VantageStats",
    "evaluate",
    "merge_worst",
]

# Two adjacent samples of a vantage point are consecutive when t2 - t1 <= CONSECUTIVE_FACTOR * interval.
CONSECUTIVE_FACTOR = 1.5

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class State(IntEnum):
    UP = 0
    DOWN = 1
    UNKNOWN = 2
    EXCLUDED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Segment(NamedTuple):
    """A maximal span [start, end) of one state of the instance's timeline."""

    start: float
    end: float
    state: State

    @property
    def duration(self) -> float:
        return self.end - self.start


class Outage(NamedTuple):
    """An outage [start, end): from its first failing sample to the first good one."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class VantageStats:
    """What one vantage point's samples looked like (for the "bad input" part of the evidence)."""

    vantage: str
    samples: int  # as given, duplicates included
    duplicates: int  # samples dropped because another sample had the same time
    conflicting_duplicates: int  # times whose duplicates disagreed (down won)
    out_of_order: int  # places where the input went back in time
    soft_failures: int  # failed samples below the confirmation threshold (counted as up)
    confirmed_failures: int  # failed samples in runs of at least N consecutive failures
    covered_s: float  # seconds of the period for which this vantage point has data


@dataclass(frozen=True)
class SlaResult:
    """One instance's evaluation over [start, end). Seconds are float64 but exact for integer inputs."""

    instance: str
    start: float
    end: float
    interval: float
    confirm_after: int
    conservative: bool
    target: float | None  # e.g. 0.999 (a fraction, not a percentage)
    period_s: float  # end - start
    excluded_s: float
    up_s: float
    down_s: float  # measured DOWN time (same in both modes)
    unknown_s: float
    counted_down_s: float  # down_s, or down_s + unknown_s in conservative mode: what the figures use
    availability: float | None  # None when undefined (no up or down time) — never 100 % by default
    coverage: float | None  # None when the whole period is excluded
    outages: tuple[Outage, ...]
    outage_count: int
    mttr_s: float | None  # mean outage duration; None without outages
    longest_s: float  # longest outage; 0 without outages
    error_budget_s: float | None  # (1 - target) * (period - excluded); None without a target
    error_budget_used: float | None  # counted_down_s / error_budget_s (1.0 = all used); None if undefined
    excluded_windows: tuple[tuple[float, float], ...]  # the exclusions as applied: united, clipped
    timeline: tuple[Segment, ...]  # covers [start, end) exactly, adjacent segments differ in state
    vantages: tuple[VantageStats, ...]

    @property
    def measured_s(self) -> float:
        """The coverage denominator: period − excluded."""
        return self.period_s - self.excluded_s

    def availability_fraction(self) -> Fraction | None:
        """Availability as an exact fraction of the (float) second counts."""
        up = Fraction(self.up_s)
        denominator = up + Fraction(self.down_s)
        if self.conservative:
            denominator += Fraction(self.unknown_s)
        return up / denominator if denominator else None

    def coverage_fraction(self) -> Fraction | None:
        measured = Fraction(self.period_s) - Fraction(self.excluded_s)
        if not measured:
            return None
        if self.conservative:
            return Fraction(1)
        return (Fraction(self.up_s) + Fraction(self.down_s)) / measured


# ---------------------------------------------------------------------------------------------
# per vantage point


def _vantage_spans(name: str, times: npt.ArrayLike, up: npt.ArrayLike, interval: float, confirm_after: int,
                   start: float, end: float) -> tuple[FloatArray, FloatArray, BoolArray, VantageStats]:
    """One vantage point's step function, clipped to [start, end): span starts, ends, is-down flags
    (maximal spans: adjacent spans differ in state or are separated by a gap), and its stats."""
    t = np.asarray(times, dtype=np.float64).ravel()
    ok = np.asarray(up).ravel()
    if ok.dtype != np.bool_:
        ok = ok.astype(np.bool_)
    n_given = t.size
    if ok.size != n_given:
        raise ValueError(f"vantage {name!r}: {n_given} times but {ok.size} up/down values")
    empty = np.empty(0, dtype=np.float64)
    if n_given == 0:
        return empty, empty, np.empty(0, dtype=np.bool_), VantageStats(name, 0, 0, 0, 0, 0, 0, 0.0)
    if not np.isfinite(t).all():
        raise ValueError(f"vantage {name!r}: sample times must be finite")

    # 1. sort (stable, only when needed)
    steps = np.diff(t)
    out_of_order = int(np.count_nonzero(steps < 0))
    if out_of_order:
        order = np.argsort(t, kind="stable")
        t, ok = t[order], ok[order]
        steps = np.diff(t)

    # 2. duplicates count once; down wins
    duplicates = conflicts = 0
    same = steps == 0
    if same.any():
        first = np.flatnonzero(np.concatenate(([True], ~same)))
        all_up = np.logical_and.reduceat(ok, first)
        any_up = np.logical_or.reduceat(ok, first)
        duplicates = n_given - first.size
        conflicts = int(np.count_nonzero(all_up != any_up))
        t, ok = t[first], all_up
        steps = np.diff(t)
    n = t.size

    # 3. confirmation: runs of failed samples, consecutive when t2 - t1 <= 1.5 * interval
    fail = ~ok
    linked = steps <= CONSECUTIVE_FACTOR * interval  # linked[i]: samples i and i+1 are consecutive
    chained = fail[1:] & fail[:-1] & linked  # chained[i]: i+1 continues the failure run of i
    run_start = fail.copy()
    run_start[1:] &= ~chained
    run_end = fail.copy()
    run_end[:-1] &= ~chained
    starts_i = np.flatnonzero(run_start)
    ends_i = np.flatnonzero(run_end)
    long_runs = (ends_i - starts_i + 1) >= confirm_after
    mark = np.zeros(n + 1, dtype=np.int64)
    np.add.at(mark, starts_i[long_runs], 1)
    np.add.at(mark, ends_i[long_runs] + 1, -1)
    down = np.cumsum(mark[:-1]) > 0
    n_fail = int(np.count_nonzero(fail))
    n_confirmed = int(np.count_nonzero(down))

    # 4. spans [t_i, min(t_i + interval, t_{i+1})), merged when contiguous and of the same state
    ends = t + interval
    np.minimum(ends[:-1], t[1:], out=ends[:-1])
    new = np.ones(n, dtype=np.bool_)
    new[1:] = (down[1:] != down[:-1]) | (ends[:-1] != t[1:])
    first_i = np.flatnonzero(new)
    last_i = np.concatenate((first_i[1:] - 1, [n - 1]))
    s, e, d = t[first_i], ends[last_i], down[first_i]

    # 5. clip to the period
    s = np.maximum(s, start)
    e = np.minimum(e, end)
    keep = s < e
    s, e, d = s[keep], e[keep], d[keep]
    stats = VantageStats(name, n_given, duplicates, conflicts, out_of_order, n_fail - n_confirmed, n_confirmed,
                         float((e - s).sum()))
    return s, e, d, stats


# ---------------------------------------------------------------------------------------------
# the instance


def _windows(exclusions: Iterable[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """United, clipped, sorted exclusion windows."""
    clipped: list[tuple[float, float]] = []
    for a, b in exclusions:
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)) or b < a:
            raise ValueError(f"exclusion window [{a}, {b}) is not a window")
        a, b = max(a, start), min(b, end)
        if a < b:
            clipped.append((a, b))
    clipped.sort()
    united: list[tuple[float, float]] = []
    for a, b in clipped:
        if united and a <= united[-1][1]:
            united[-1] = (united[-1][0], max(united[-1][1], b))
        else:
            united.append((a, b))
    return united


def _target_budget(target: float | None, measured: float) -> Fraction | None:
    if target is None:
        return None
    # the decimal the caller wrote (0.999 → 999/1000), not the binary float nearest to it
    return (1 - Fraction(repr(float(target)))) * Fraction(measured)


def evaluate(
    samples: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    *,
    interval: float,
    start: float,
    end: float,
    confirm_after: int = 2,
    exclusions: Iterable[tuple[float, float]] = (),
    conservative: bool = False,
    target: float | None = None,
    instance: str = "",
) -> SlaResult:
    """Evaluate one instance over the period [start, end) (Unix seconds).

    *samples* maps each vantage point to (times, up): sample times in Unix seconds (any order,
    duplicates allowed) and the matching up/down values (bool or 0/1), as sequences or numpy
    arrays. *interval* is the probe interval in seconds, *exclusions* the [start, end) windows to
    remove (announced maintenance, already filtered by the caller), *target* the contracted
    availability as a fraction (0.999), used only for the error budget. See the module docstring
    for the rules."""
    interval = float(interval)
    start, end = float(start), float(end)
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be a positive number of seconds, not {interval}")
    if not (math.isfinite(start) and math.isfinite(end) and start < end):
        raise ValueError(f"period [{start}, {end}) is empty or not finite")
    if isinstance(confirm_after, bool) or not isinstance(confirm_after, int | np.integer) or confirm_after < 1:
        raise ValueError(f"confirm_after must be an integer >= 1, not {confirm_after!r}")
    confirm_after = int(confirm_after)
    if target is not None and not 0.0 <= float(target) <= 1.0:
        raise ValueError(f"target must be a fraction in [0, 1] (0.999 for 99.9 %), not {target}")

    windows = _windows(exclusions, start, end)

    # change points: +1/-1 on the up, down and excluded counters; start and end always present
    times: list[FloatArray] = [np.array([start, end])]
    d_up: list[npt.NDArray[np.int32]] = [np.zeros(2, dtype=np.int32)]
    d_down: list[npt.NDArray[np.int32]] = [np.zeros(2, dtype=np.int32)]
    d_excl: list[npt.NDArray[np.int32]] = [np.zeros(2, dtype=np.int32)]
    stats: list[VantageStats] = []
    for name in sorted(samples):
        ts, oks = samples[name]
        s, e, d, st = _vantage_spans(name, ts, oks, interval, confirm_after, start, end)
        stats.append(st)
        if not s.size:
            continue
        u = (~d).astype(np.int32)
        dn = d.astype(np.int32)
        times.append(np.concatenate((s, e)))
        d_up.append(np.concatenate((u, -u)))
        d_down.append(np.concatenate((dn, -dn)))
        d_excl.append(np.zeros(2 * s.size, dtype=np.int32))
    if windows:
        w = np.array(windows, dtype=np.float64)
        times.append(np.concatenate((w[:, 0], w[:, 1])))
        zeros = np.zeros(2 * len(windows), dtype=np.int32)
        d_up.append(zeros)
        d_down.append(zeros)
        d_excl.append(np.concatenate((np.ones(len(windows), dtype=np.int32), -np.ones(len(windows), dtype=np.int32))))

    all_t = np.concatenate(times)
    order = np.argsort(all_t, kind="stable")
    all_t = all_t[order]
    n_up = np.cumsum(np.concatenate(d_up)[order])
    n_down = np.cumsum(np.concatenate(d_down)[order])
    n_excl = np.cumsum(np.concatenate(d_excl)[order])
    last = np.ones(all_t.size, dtype=np.bool_)
    last[:-1] = all_t[1:] != all_t[:-1]  # the counters after all changes at a time hold until the next
    pts = all_t[last]
    n_up, n_down, n_excl = n_up[last][:-1], n_down[last][:-1], n_excl[last][:-1]

    state = np.full(pts.size - 1, State.UNKNOWN, dtype=np.int8)
    state[n_up > n_down] = State.UP
    state[n_down > n_up] = State.DOWN
    state[n_excl > 0] = State.EXCLUDED

    # the timeline: maximal segments of one state
    change = np.ones(state.size, dtype=np.bool_)
    change[1:] = state[1:] != state[:-1]
    first = np.flatnonzero(change)
    seg_s = pts[first]
    seg_e = np.concatenate((pts[first[1:]], [pts[-1]]))
    seg_state = state[first]
    seg_len = seg_e - seg_s

    def total(which: State) -> float:
        return float(seg_len[seg_state == which].sum())

    period_s = end - start
    up_s, down_s, unknown_s, excluded_s = (total(State.UP), total(State.DOWN), total(State.UNKNOWN),
                                           total(State.EXCLUDED))

    # outages: maximal spans of bad segments (adjacent segments are contiguous by construction)
    bad = seg_state == State.DOWN
    if conservative:
        bad |= seg_state == State.UNKNOWN
    edge = np.diff(np.concatenate(([False], bad, [False])).astype(np.int8))
    o_first = np.flatnonzero(edge == 1)
    o_last = np.flatnonzero(edge == -1) - 1
    outages = tuple(Outage(float(a), float(b)) for a, b in zip(seg_s[o_first], seg_e[o_last], strict=True))
    durations = seg_e[o_last] - seg_s[o_first]

    counted_down = down_s + unknown_s if conservative else down_s
    measured = period_s - excluded_s
    denominator = up_s + counted_down
    availability = up_s / denominator if denominator > 0 else None
    if measured > 0:
        coverage: float | None = 1.0 if conservative else (up_s + down_s) / measured
    else:
        coverage = None
    budget = _target_budget(target, measured)
    budget_used = float(Fraction(counted_down) / budget) if budget else None

    return SlaResult(
        instance=instance,
        start=start,
        end=end,
        interval=interval,
        confirm_after=confirm_after,
        conservative=conservative,
        target=None if target is None else float(target),
        period_s=period_s,
        excluded_s=excluded_s,
        up_s=up_s,
        down_s=down_s,
        unknown_s=unknown_s,
        counted_down_s=counted_down,
        availability=availability,
        coverage=coverage,
        outages=outages,
        outage_count=len(outages),
        mttr_s=float(durations.sum()) / len(outages) if outages else None,
        longest_s=float(durations.max()) if outages else 0.0,
        error_budget_s=None if budget is None else float(budget),
        error_budget_used=budget_used,
        excluded_windows=tuple(windows),
        timeline=tuple(Segment(float(a), float(b), State(int(c))) for a, b, c in zip(seg_s, seg_e, seg_state,
                                                                                       strict=True)),
        vantages=tuple(stats),
    )


# ---------------------------------------------------------------------------------------------
# a tenant


def _badness(r: SlaResult) -> tuple[int, float, int, float, float, float, str]:
    """Sort key, smallest = worst: undefined availability first, then lowest availability, then
    undefined / lowest coverage, then most counted down time, then most unknown time, then instance."""
    return (
        0 if r.availability is None else 1,
        0.0 if r.availability is None else r.availability,
        0 if r.coverage is None else 1,
        0.0 if r.coverage is None else r.coverage,
        -r.counted_down_s,
        -r.unknown_s,
        r.instance,
    )


def merge_worst(results: Iterable[SlaResult]) -> SlaResult:
    """A tenant's figure is its worst instance's: the result with the lowest availability.

    An instance whose availability is undefined (no evidence) is worse than any figure, so a tenant
    with an unmeasured instance has no figure either. Ties on availability go to the lower coverage
    (undefined lowest), then to the most counted down time, then to the most unknown time, then to
    the instance id that sorts first; fully identical keys keep the input order. All results must
    use the same mode (conservative or not); raises ValueError otherwise or when there is none.
    Note: the figure is the worst instance's — a caller that needs every instance's coverage to be
    sufficient should check all of them, not only the worst."""
    pool = list(results)
    if not pool:
        raise ValueError("merge_worst needs at least one result")
    if len({r.conservative for r in pool}) > 1:
        raise ValueError("merge_worst: results mix conservative and normal mode")
    return min(pool, key=_badness)
