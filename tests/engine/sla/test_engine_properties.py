"""Property tests: the numpy engine equals the second-by-second reference exactly, and keeps its
invariants, on random sample sets (1–3 vantage points, regular with skew, gaps, failure runs,
duplicates and shuffling, or fully irregular) over short periods with integer-second times."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.sla.engine import SlaResult, evaluate
from attest.sla.reference import reference

Samples = dict[str, list[tuple[int, bool]]]

# no example database: nothing is written into the working tree, every run draws afresh
SETTINGS = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    samples: Samples
    interval: int
    start: int
    end: int
    confirm_after: int
    exclusions: list[tuple[int, int]]


@st.composite
def regular_vantage(draw: st.DrawFn, interval: int, start: int, end: int) -> list[tuple[int, bool]]:
    """A probe every `interval` seconds from a skewed origin, with gaps, failure runs of random
    length, jitter, duplicates (some disagreeing) and the order shuffled."""
    skew = draw(st.integers(0, interval - 1))
    first = start - draw(st.integers(0, 3)) * interval + skew
    out: list[tuple[int, bool]] = []
    t = first
    ok = True
    while t < end + interval:
        if draw(st.integers(0, 9)) == 0:
            ok = not ok  # state changes: failure runs and recoveries
        if draw(st.integers(0, 11)) != 0:  # ~1 in 12 samples missing
            jitter = draw(st.sampled_from([0, 0, 0, 0, 1, -1, interval // 2]))
            out.append((t + jitter, ok))
            if draw(st.integers(0, 14)) == 0:  # a duplicate, sometimes disagreeing
                out.append((t + jitter, draw(st.booleans())))
        if draw(st.integers(0, 24)) == 0:  # a gap: half an interval more (1.5 x, the limit), or whole ones
            t += draw(st.sampled_from([interval // 2, (interval + 1) // 2, interval, 2 * interval, 4 * interval]))
        t += interval
    return draw(st.permutations(out))


def irregular_vantage(interval: int, start: int, end: int) -> st.SearchStrategy[list[tuple[int, bool]]]:
    return st.lists(st.tuples(st.integers(start - 3 * interval, end + interval), st.booleans()), max_size=60)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    interval = draw(st.integers(1, 30))
    start = draw(st.integers(-1000, 1000))
    end = start + draw(st.integers(1, 400))
    n = draw(st.integers(1, 3))
    samples: Samples = {}
    for k in range(n):
        kind = draw(st.sampled_from(["regular", "regular", "regular", "irregular", "empty"]))
        if kind == "regular":
            samples[f"v{k}"] = draw(regular_vantage(interval, start, end))
        elif kind == "irregular":
            samples[f"v{k}"] = draw(irregular_vantage(interval, start, end))
        else:
            samples[f"v{k}"] = []
    windows = draw(st.lists(st.tuples(st.integers(start - 50, end + 50), st.integers(0, 120)), max_size=3))
    exclusions = [(a, a + length) for a, length in windows]
    return Case(samples, interval, start, end, draw(st.integers(1, 4)), exclusions)


def run(case: Case, conservative: bool = False, offset: float = 0, scale: float = 1) -> SlaResult:
    return evaluate(
        {v: ([(t + offset) * scale for t, _ in s], [ok for _, ok in s]) for v, s in case.samples.items()},
        interval=case.interval * scale,
        start=(case.start + offset) * scale,
        end=(case.end + offset) * scale,
        confirm_after=case.confirm_after,
        exclusions=[((a + offset) * scale, (b + offset) * scale) for a, b in case.exclusions],
        conservative=conservative,
    )


def expand(result: SlaResult) -> list[str]:
    """The engine's timeline, second by second."""
    out: list[str] = []
    for seg in result.timeline:
        assert seg.start == int(seg.start) and seg.end == int(seg.end)
        out.extend([seg.state.label] * int(seg.end - seg.start))
    return out


@SETTINGS
@given(cases(), st.booleans())
def test_engine_equals_reference(case: Case, conservative: bool) -> None:
    got = run(case, conservative)
    ref = reference(case.samples, interval=case.interval, start=case.start, end=case.end,
                    confirm_after=case.confirm_after, exclusions=case.exclusions, conservative=conservative)
    assert (got.up_s, got.down_s, got.unknown_s, got.excluded_s) == (ref.up_s, ref.down_s, ref.unknown_s,
                                                                     ref.excluded_s)
    assert [(o.start, o.end) for o in got.outages] == list(ref.outages)
    assert tuple(expand(got)) == ref.states
    assert got.availability_fraction() == ref.availability
    assert got.coverage_fraction() == ref.coverage
    assert got.availability == (None if ref.availability is None else float(ref.availability))
    assert got.coverage == (None if ref.coverage is None else float(ref.coverage))


@SETTINGS
@given(cases())
def test_invariants(case: Case) -> None:
    normal, cons = run(case), run(case, conservative=True)
    for r in (normal, cons):
        assert r.up_s + r.down_s + r.unknown_s + r.excluded_s == r.period_s == case.end - case.start
        assert r.availability is None or 0.0 <= r.availability <= 1.0
        assert r.coverage is None or 0.0 <= r.coverage <= 1.0
        assert sum(o.duration for o in r.outages) == r.counted_down_s
        assert r.outage_count == len(r.outages)
        assert r.longest_s == max((o.duration for o in r.outages), default=0.0)
        # the timeline covers the period, segment after segment, each state different from the last
        assert r.timeline[0].start == case.start and r.timeline[-1].end == case.end
        for seg, following in zip(r.timeline, r.timeline[1:], strict=False):
            assert seg.end == following.start and seg.state != following.state and seg.start < seg.end
        # outages are disjoint, ordered, separated by something that is not counted down
        for outage, later in zip(r.outages, r.outages[1:], strict=False):
            assert outage.end < later.start
        for v in r.vantages:
            assert 0 <= v.covered_s <= r.period_s
    # the measured seconds do not depend on the mode
    assert (normal.up_s, normal.down_s, normal.unknown_s) == (cons.up_s, cons.down_s, cons.unknown_s)
    # conservative is never kinder
    a, b = normal.availability_fraction(), cons.availability_fraction()
    if b is not None:
        assert a is None or b <= a
    if normal.availability is None and normal.unknown_s > 0:
        assert cons.availability == 0.0
    assert cons.coverage in (None, 1.0)
    # every outage is inside a conservative outage
    for o in normal.outages:
        assert any(c.start <= o.start and o.end <= c.end for c in cons.outages)


@SETTINGS
@given(cases())
def test_raising_the_confirmation_threshold_never_adds_downtime(case: Case) -> None:
    lower = run(case)
    higher = evaluate(
        {v: ([t for t, _ in s], [ok for _, ok in s]) for v, s in case.samples.items()},
        interval=case.interval, start=case.start, end=case.end, confirm_after=case.confirm_after + 1,
        exclusions=case.exclusions)
    assert higher.down_s <= lower.down_s
    assert higher.up_s >= lower.up_s
    assert higher.excluded_s == lower.excluded_s


@SETTINGS
@given(cases(), st.sampled_from([1_700_000_000, 2_000_000_000, -86_400]))
def test_shifting_in_time_changes_nothing_but_the_times(case: Case, offset: int) -> None:
    base, moved = run(case), run(case, offset=offset)
    assert (base.up_s, base.down_s, base.unknown_s, base.excluded_s) == (moved.up_s, moved.down_s, moved.unknown_s,
                                                                         moved.excluded_s)
    assert [(o.start + offset, o.end + offset) for o in base.outages] == [(o.start, o.end) for o in moved.outages]
    assert base.availability == moved.availability and base.coverage == moved.coverage


@SETTINGS
@given(cases(), st.sampled_from([0.5, 0.25, 4.0]))
def test_fractional_seconds_scale_exactly(case: Case, scale: float) -> None:
    """Non-integer times (halves, quarters) are as exact as integers: the result scales with time."""
    base, scaled = run(case), run(case, scale=scale)
    assert (base.up_s * scale, base.down_s * scale, base.unknown_s * scale, base.excluded_s * scale) == (
        scaled.up_s, scaled.down_s, scaled.unknown_s, scaled.excluded_s)
    assert [(o.start * scale, o.end * scale) for o in base.outages] == [(o.start, o.end) for o in scaled.outages]
    assert base.availability_fraction() == scaled.availability_fraction()


@SETTINGS
@given(cases())
def test_vantage_names_and_sample_order_do_not_matter(case: Case) -> None:
    renamed = Case({f"z{len(case.samples) - i}-{name}": list(reversed(s))
                    for i, (name, s) in enumerate(case.samples.items())},
                   case.interval, case.start, case.end, case.confirm_after, list(reversed(case.exclusions)))
    a, b = run(case), run(renamed)
    assert (a.up_s, a.down_s, a.unknown_s, a.excluded_s, a.outages) == (b.up_s, b.down_s, b.unknown_s, b.excluded_s,
                                                                        b.outages)


def test_reference_rejects_non_integer_seconds() -> None:
    with pytest.raises(TypeError):
        reference({}, interval=1.5, start=0, end=10)  # type: ignore[arg-type]


def test_fraction_helpers_are_exact() -> None:
    r = evaluate({"a": ([0, 1, 2], [True, False, False])}, interval=1, start=0, end=3)
    assert r.availability_fraction() == Fraction(1, 3)
    assert r.coverage_fraction() == Fraction(1)
