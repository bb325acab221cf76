"""The availability engine on hand-computed cases (issue 5, item 2 and its done-when month)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from attest.period import parse_period
from attest.sla import Outage, Segment, SlaResult, State, evaluate, merge_worst

MIN = 60
HOUR = 3600
DAY = 86400


def series(times: Sequence[float], downs: AbstractSet[float] = frozenset()) -> tuple[Sequence[float], list[bool]]:
    """Samples at *times*, failed at the times in *downs*."""
    return times, [t not in downs for t in times]


def every(start: float, stop: float, step: float = 60) -> list[float]:
    out, t = [], start
    while t < stop:
        out.append(t)
        t += step
    return out


# --- the done-when month ----------------------------------------------------------------------


def test_the_done_when_month() -> None:
    """April 2026 in Europe/Rome (30 days), 2 vantage points every 60 s: 3 outages of 12, 20 and
    15 min (47 min), a 2-hour announced maintenance (excluded, the instance down during it), a
    6-hour monitoring gap (both vantage points silent: UNKNOWN), and single failed samples — on one
    vantage point only, and one on both at the same minute — which must not count."""
    period = parse_period("2026-04", "Europe/Rome")
    start, end = period.start.timestamp(), period.end.timestamp()
    assert end - start == 30 * DAY == 2_592_000

    def at(day: int, hour: int, minute: int) -> float:
        return start + day * DAY + hour * HOUR + minute * MIN

    outages = [(at(3, 10, 0), 12), (at(10, 14, 30), 20), (at(20, 3, 15), 15)]
    maintenance = (at(15, 2, 0), at(15, 4, 0))
    gap = (at(25, 6, 0), at(25, 12, 0))
    single_a = {at(1, 8, 7), at(5, 23, 59), at(12, 0, 0), at(18, 13, 1), at(27, 17, 45)}
    single_both = {at(7, 7, 7)}

    down_both: set[float] = set(single_both)
    for t0, minutes in outages:
        down_both.update(t0 + k * MIN for k in range(minutes))
    down_both.update(every(*maintenance))  # the instance is down during its maintenance: excluded anyway
    times = [t for t in every(start, end) if not gap[0] <= t < gap[1]]
    a = series(times, down_both | single_a)
    b = series(times, down_both)

    r = evaluate({"mil-1": a, "fra-1": b}, interval=60, start=start, end=end, exclusions=[maintenance],
                 target=0.999, instance="pbx-acme")

    assert r.period_s == 2_592_000
    assert r.excluded_s == 7_200
    assert r.unknown_s == 21_600
    assert r.down_s == 47 * MIN == 2_820
    assert r.up_s == 2_592_000 - 7_200 - 21_600 - 2_820 == 2_560_380
    assert r.availability == 2_560_380 / 2_563_200
    assert r.availability_fraction() == Fraction(2_560_380, 2_563_200)
    assert round(r.availability * 100, 4) == 99.89  # 99.8899… %
    assert r.coverage == 2_563_200 / 2_584_800
    assert r.coverage_fraction() == Fraction(2_563_200, 2_584_800)
    assert r.outages == (
        Outage(at(3, 10, 0), at(3, 10, 12)),
        Outage(at(10, 14, 30), at(10, 14, 50)),
        Outage(at(20, 3, 15), at(20, 3, 30)),
    )
    assert [o.duration for o in r.outages] == [720, 1200, 900]
    assert r.outage_count == 3
    assert r.mttr_s == 940  # 2820 / 3
    assert r.longest_s == 1200
    assert r.error_budget_s == pytest.approx(2_584.8)  # 0.1 % of 2,584,800 s
    assert r.error_budget_used == float(Fraction(2_820) / Fraction(25_848, 10))  # > 1: over budget
    assert r.excluded_windows == (maintenance,)
    stats = {v.vantage: v for v in r.vantages}
    assert stats["mil-1"].soft_failures == 6 and stats["fra-1"].soft_failures == 1
    assert stats["mil-1"].confirmed_failures == stats["fra-1"].confirmed_failures == 47 + 120
    assert stats["mil-1"].covered_s == stats["fra-1"].covered_s == 2_592_000 - 21_600
    assert r.timeline[0] == Segment(start, at(3, 10, 0), State.UP)
    assert Segment(gap[0], gap[1], State.UNKNOWN) in r.timeline
    assert Segment(maintenance[0], maintenance[1], State.EXCLUDED) in r.timeline

    cons = evaluate({"mil-1": a, "fra-1": b}, interval=60, start=start, end=end, exclusions=[maintenance],
                    conservative=True, target=0.999)
    assert (cons.up_s, cons.down_s, cons.unknown_s) == (r.up_s, r.down_s, r.unknown_s)
    assert cons.counted_down_s == 2_820 + 21_600
    assert cons.availability == 2_560_380 / 2_584_800
    assert cons.coverage == 1.0
    assert cons.outages == (*r.outages, Outage(*gap))
    assert cons.mttr_s == (2_820 + 21_600) / 4
    assert cons.longest_s == 21_600


# --- confirmation -----------------------------------------------------------------------------


def test_single_failures_are_soft_and_count_as_up() -> None:
    t = every(0, 600)
    r = evaluate({"a": series(t, {120, 300, 420})}, interval=60, start=0, end=600)
    assert (r.up_s, r.down_s, r.unknown_s) == (600, 0, 0)
    assert r.availability == 1.0 and r.outages == ()
    assert r.vantages[0].soft_failures == 3 and r.vantages[0].confirmed_failures == 0


def test_confirmed_failure_is_backdated_to_the_first_failed_sample() -> None:
    t = every(0, 900)
    samples = {"a": series(t, {300, 360, 420, 660, 720})}
    r3 = evaluate(samples, interval=60, start=0, end=900, confirm_after=3)
    assert r3.outages == (Outage(300, 480),)  # from the first failed sample to the first good one
    assert r3.down_s == 180 and r3.up_s == 720
    assert r3.vantages[0].soft_failures == 2
    r2 = evaluate(samples, interval=60, start=0, end=900)
    assert r2.outages == (Outage(300, 480), Outage(660, 780))
    r1 = evaluate({"a": series(t, {300, 540})}, interval=60, start=0, end=900, confirm_after=1)
    assert r1.outages == (Outage(300, 360), Outage(540, 600))


def test_consecutive_means_at_most_one_and_a_half_intervals_apart() -> None:
    # 100 and 190: 90 s apart (= 1.5 x 60) → consecutive, confirmed
    r = evaluate({"a": series([0, 100, 190, 300], {100, 190})}, interval=60, start=0, end=360)
    assert r.outages == (Outage(100, 160), Outage(190, 250))  # the 30 s between them have no data
    assert r.down_s == 120 and r.unknown_s == 40 + 30 + 50  # [60, 100), [160, 190), [250, 300)
    # 100 and 191: 91 s apart → not consecutive: two soft failures, up
    r = evaluate({"a": series([0, 100, 191, 300], {100, 191})}, interval=60, start=0, end=360)
    assert r.outages == () and r.down_s == 0 and r.up_s == 240


def test_a_missing_sample_is_a_gap_not_the_previous_state_carried_on() -> None:
    r = evaluate({"a": series([0, 60, 300], {0, 60})}, interval=60, start=0, end=420)
    assert r.timeline == (Segment(0, 120, State.DOWN), Segment(120, 300, State.UNKNOWN),
                          Segment(300, 360, State.UP), Segment(360, 420, State.UNKNOWN))
    assert r.coverage == 180 / 420


def test_a_later_sample_supersedes_an_earlier_one() -> None:
    # irregular probing: a sample 20 s after the previous one takes over from its own time
    r = evaluate({"a": series([0, 20, 80], {20, 80})}, interval=60, start=0, end=140)
    assert r.timeline == (Segment(0, 20, State.UP), Segment(20, 140, State.DOWN))


# --- vantage points ---------------------------------------------------------------------------


def test_majority_of_the_vantage_points_with_data() -> None:
    t = every(0, 600)
    fail = {120, 180, 240}
    # one of two fails: tie → UNKNOWN, not DOWN
    r = evaluate({"a": series(t, fail), "b": series(t)}, interval=60, start=0, end=600)
    assert (r.up_s, r.down_s, r.unknown_s) == (420, 0, 180) and r.outages == ()
    # two of three fail → DOWN; one of three fails → UP
    r = evaluate({"a": series(t, fail), "b": series(t, fail), "c": series(t)}, interval=60, start=0, end=600)
    assert r.outages == (Outage(120, 300),)
    r = evaluate({"a": series(t, fail), "b": series(t), "c": series(t)}, interval=60, start=0, end=600)
    assert r.down_s == 0 and r.up_s == 600
    # only the vantage points with data vote: b silent, a alone decides
    r = evaluate({"a": series(t, fail), "b": series([0, 60, 480, 540])}, interval=60, start=0, end=600)
    assert r.timeline == (Segment(0, 120, State.UP), Segment(120, 300, State.DOWN), Segment(300, 600, State.UP))
    # one fails, one succeeds, one silent: tie → UNKNOWN
    r = evaluate({"a": series(t, fail), "b": series(t), "c": series([])}, interval=60, start=0, end=600)
    assert r.unknown_s == 180


def test_clock_skew_between_vantage_points() -> None:
    """Vantage point B probes 17 s after A: each is a step function of its own samples, so the
    outage is DOWN where both agree and UNKNOWN at the edges where they disagree."""
    a = series(every(0, 1200), {600, 660, 720})  # down [600, 780)
    b = series(every(17, 1200), {617, 677, 737})  # down [617, 797)
    r = evaluate({"a": a, "b": b}, interval=60, start=0, end=1200)
    assert r.timeline == (Segment(0, 600, State.UP), Segment(600, 617, State.UNKNOWN), Segment(617, 780, State.DOWN),
                          Segment(780, 797, State.UNKNOWN), Segment(797, 1200, State.UP))
    assert r.outages == (Outage(617, 780),)
    assert (r.up_s, r.down_s, r.unknown_s) == (1003, 163, 34)
    # [0, 17) only A has data (up); B's last span runs past the end and is clipped
    assert r.vantages[1].covered_s == 1200 - 17


def test_duplicates_count_once_and_down_wins() -> None:
    t = every(0, 600)
    dup = [*t, 120, 120, 300]
    ok = [True] * len(t) + [True, True, True]
    r = evaluate({"a": (dup, ok)}, interval=60, start=0, end=600)
    assert (r.up_s, r.down_s) == (600, 0)
    assert r.vantages[0].duplicates == 3 and r.vantages[0].conflicting_duplicates == 0
    # 180 reported both up and down: down wins, and with 240 failed it makes a confirmed run
    times = [*t, 180]
    oks = [x != 240 for x in t] + [False]
    r = evaluate({"a": (times, oks)}, interval=60, start=0, end=600)
    assert r.outages == (Outage(180, 300),)
    assert r.vantages[0].duplicates == 1 and r.vantages[0].conflicting_duplicates == 1


def test_out_of_order_input_is_sorted() -> None:
    times, oks = series(every(0, 3600), {600, 660, 720, 1800})
    shuffled = list(zip(times, oks, strict=True))
    random.Random(5).shuffle(shuffled)
    r_sorted = evaluate({"a": (times, oks)}, interval=60, start=0, end=3600)
    r_shuffled = evaluate({"a": ([t for t, _ in shuffled], [o for _, o in shuffled])}, interval=60, start=0,
                          end=3600)
    assert r_shuffled.outages == r_sorted.outages == (Outage(600, 780),)
    assert replace(r_shuffled, vantages=()) == replace(r_sorted, vantages=())
    assert r_sorted.vantages[0].out_of_order == 0 and r_shuffled.vantages[0].out_of_order > 0


def test_numpy_arrays_and_integer_flags() -> None:
    t = np.arange(0, 600, 60, dtype=np.int64)
    up = np.ones(t.size, dtype=np.int8)
    up[[2, 3]] = 0
    r = evaluate({"a": (t, up)}, interval=60, start=0, end=600)
    assert r.outages == (Outage(120, 240),)
    assert isinstance(r.up_s, float) and isinstance(r.outages[0].start, float)


# --- outages ----------------------------------------------------------------------------------


def test_unknown_between_two_down_spans_makes_two_outages() -> None:
    times = [*every(0, 300), *every(360, 600)]  # 300 missing on both
    fail = {180, 240, 360, 420}
    r = evaluate({"a": series(times, fail), "b": series(times, fail)}, interval=60, start=0, end=600)
    assert r.outages == (Outage(180, 300), Outage(360, 480))
    assert r.mttr_s == 120 and r.longest_s == 120
    cons = evaluate({"a": series(times, fail), "b": series(times, fail)}, interval=60, start=0, end=600,
                    conservative=True)
    assert cons.outages == (Outage(180, 480),)
    assert cons.availability == 300 / 600 and cons.counted_down_s == 120 + 60 + 120


def test_conservative_mode() -> None:
    t = [*every(0, 1200), *every(2400, 3600)]  # a 20-minute gap
    r = evaluate({"a": series(t, {600, 660})}, interval=60, start=0, end=3600)
    c = evaluate({"a": series(t, {600, 660})}, interval=60, start=0, end=3600, conservative=True)
    assert (r.up_s, r.down_s, r.unknown_s) == (c.up_s, c.down_s, c.unknown_s) == (2280, 120, 1200)
    assert r.availability == 2280 / 2400 and r.coverage == 2400 / 3600
    assert c.availability == 2280 / 3600 and c.coverage == 1.0
    assert c.outages == (Outage(600, 720), Outage(1200, 2400))
    assert c.availability < r.availability


# --- exclusions and the period ----------------------------------------------------------------


def test_exclusions_overlapping_outages() -> None:
    t = every(0, 3600)
    fail = set(every(600, 1200))  # the instance is down [600, 1200)
    samples = {"a": series(t, fail), "b": series(t, fail)}
    # a window covering the end of the outage: the outage ends where the window starts
    r = evaluate(samples, interval=60, start=0, end=3600, exclusions=[(900, 1500)])
    assert r.outages == (Outage(600, 900),)
    assert (r.up_s, r.down_s, r.excluded_s) == (2700, 300, 600)
    # a window inside the outage splits it in two
    r = evaluate(samples, interval=60, start=0, end=3600, exclusions=[(700, 800)])
    assert r.outages == (Outage(600, 700), Outage(800, 1200))
    assert r.down_s == 500
    # overlapping and touching windows are united; windows beyond the period are clipped
    r = evaluate(samples, interval=60, start=0, end=3600,
                 exclusions=[(500, 700), (650, 1000), (1000, 1300), (3500, 9000), (-50, 10), (5000, 6000)])
    assert r.excluded_windows == ((0, 10), (500, 1300), (3500, 3600))
    assert r.excluded_s == 10 + 800 + 100
    assert r.outages == ()
    assert r.up_s == 3600 - 910


def test_period_clipping_at_both_ends() -> None:
    # samples before the start confirm a failure that runs into the period; an outage crossing the
    # end is cut at the end; samples after the end do not count
    t = every(-300, 900)
    fail = {-120, -60, 0, 720, 780, 840}
    r = evaluate({"a": series(t, fail)}, interval=60, start=30, end=810)
    assert r.outages == (Outage(30, 60), Outage(720, 810))
    assert r.period_s == 780 and r.up_s + r.down_s == 780
    assert r.vantages[0].covered_s == 780
    # a lone failure just before the period, then one inside it: consecutive, so confirmed
    r = evaluate({"a": series([-60, 0, 60], {-60, 0})}, interval=60, start=0, end=120)
    assert r.outages == (Outage(0, 60),)


def test_empty_input_is_never_100_percent() -> None:
    nothing: list[Mapping[str, tuple[list[float], list[bool]]]] = [{}, {"a": ([], []), "b": ([], [])}]
    for samples in nothing:
        r = evaluate(samples, interval=60, start=0, end=DAY)
        assert r.availability is None and r.availability_fraction() is None
        assert r.coverage == 0.0
        assert r.unknown_s == DAY and r.outages == () and r.mttr_s is None and r.longest_s == 0.0
        c = evaluate(samples, interval=60, start=0, end=DAY, conservative=True)
        assert c.availability == 0.0 and c.coverage == 1.0 and c.outages == (Outage(0, DAY),)
    # samples all outside the period: no data inside it
    r = evaluate({"a": series([DAY + 60])}, interval=60, start=0, end=DAY)
    assert r.availability is None and r.coverage == 0.0
    # everything excluded: coverage undefined too
    r = evaluate({"a": series(every(0, 600))}, interval=60, start=0, end=600, exclusions=[(0, 600)], target=0.999)
    assert r.availability is None and r.coverage is None and r.error_budget_used is None
    assert r.excluded_s == 600 and r.timeline == (Segment(0, 600, State.EXCLUDED),)


def test_error_budget() -> None:
    t = every(0, 30 * DAY)
    fail = set(every(DAY, DAY + 1296))  # 21.6 min: half of 99.9 %'s 43.2 min
    r = evaluate({"a": series(t, fail)}, interval=60, start=0, end=30 * DAY, target=0.999)
    assert r.down_s == 1320  # 22 samples of 60 s (1296 s rounded up to whole samples)
    assert r.error_budget_s == 2592.0
    assert r.error_budget_used == 1320 / 2592
    assert evaluate({"a": series(t)}, interval=60, start=0, end=30 * DAY, target=1.0).error_budget_used is None
    assert evaluate({"a": series(t)}, interval=60, start=0, end=30 * DAY).error_budget_s is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": float("nan")}, "interval"),
        ({"end": 0}, "period"),
        ({"confirm_after": 0}, "confirm_after"),
        ({"confirm_after": True}, "confirm_after"),
        ({"target": 99.9}, "target"),
        ({"exclusions": [(10, 5)]}, "exclusion"),
        ({"samples": {"a": ([0, 60], [True])}}, "2 times but 1"),
        ({"samples": {"a": ([0, float("nan")], [True, True])}}, "finite"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"samples": {}, "interval": 60, "start": 0, "end": 600, **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate(**args)  # type: ignore[arg-type]


# --- a tenant ---------------------------------------------------------------------------------


def _result(instance: str, up: int, down: int, unknown: int = 0) -> SlaResult:
    """A result with the given second counts (one vantage point, aligned 1 s samples)."""
    ok = [True] * up + [False] * down
    times = list(range(up + down))
    return evaluate({"a": (times, ok)}, interval=1, start=0, end=up + down + unknown, confirm_after=1,
                    instance=instance)


def test_merge_worst_takes_the_lowest_availability() -> None:
    good, bad, worse = _result("good", 999, 1), _result("bad", 990, 10), _result("worse", 900, 100)
    assert merge_worst([good, worse, bad]) is worse
    assert merge_worst([good]) is good


def test_merge_worst_ties() -> None:
    # an instance without evidence is worse than any figure
    none = _result("none", 0, 0, 100)
    assert none.availability is None
    assert merge_worst([_result("x", 0, 100), none]) is none
    # same availability: the lower coverage is worse
    full, gappy = _result("full", 90, 10), _result("gappy", 90, 10, 100)
    assert full.availability == gappy.availability
    assert merge_worst([full, gappy]) is gappy
    # same availability and coverage: more down time is worse (a longer period at the same ratio)
    small, large = _result("small", 9, 1), _result("large", 90, 10)
    assert merge_worst([small, large]) is large
    # identical figures: the instance id that sorts first
    assert merge_worst([_result("b", 90, 10), _result("a", 90, 10)]).instance == "a"


def test_merge_worst_refuses_nothing_and_mixed_modes() -> None:
    with pytest.raises(ValueError):
        merge_worst([])
    cons = evaluate({}, interval=60, start=0, end=60, conservative=True)
    with pytest.raises(ValueError, match="mix"):
        merge_worst([_result("a", 1, 0), cons])
