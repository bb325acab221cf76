"""A deliberately simple reference for the availability engine, used only by the tests.

It works second by second, so it takes integer-second inputs only, and it is slow on purpose:
every rule of `attest.sla.engine` is written out as plainly as possible, in plain Python, with no
change points, no numpy and no cleverness, so that the property tests can hold the engine to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

UP, DOWN, UNKNOWN, EXCLUDED = "up", "down", "unknown", "excluded"


@dataclass(frozen=True)
class ReferenceResult:
    states: tuple[str, ...]  # one state per second of the period
    up_s: int
    down_s: int
    unknown_s: int
    excluded_s: int
    outages: tuple[tuple[int, int], ...]
    availability: Fraction | None
    coverage: Fraction | None


def _vantage_state_at(samples: Sequence[tuple[int, bool]], interval: int,
                      confirm_after: int) -> dict[int, str]:
    """The state of one vantage point at every second its samples cover: {second: "up"|"down"}."""
    # duplicates count once, down wins
    merged: dict[int, bool] = {}
    for t, ok in samples:
        merged[t] = merged.get(t, True) and ok
    times = sorted(merged)

    # runs of consecutive failed samples (consecutive: at most 1.5 intervals apart)
    confirmed: set[int] = set()
    i = 0
    while i < len(times):
        if merged[times[i]]:
            i += 1
            continue
        j = i
        while j + 1 < len(times) and not merged[times[j + 1]] and 2 * (times[j + 1] - times[j]) <= 3 * interval:
            j += 1
        if j - i + 1 >= confirm_after:
            confirmed.update(times[i:j + 1])
        i = j + 1

    # each sample covers its own interval, until the next sample takes over
    state: dict[int, str] = {}
    for k, t in enumerate(times):
        stop = t + interval
        if k + 1 < len(times):
            stop = min(stop, times[k + 1])
        for second in range(t, stop):
            state[second] = DOWN if t in confirmed else UP
    return state


def reference(samples: Mapping[str, Sequence[tuple[int, bool]]], *, interval: int, start: int, end: int,
              confirm_after: int = 2, exclusions: Iterable[tuple[int, int]] = (),
              conservative: bool = False) -> ReferenceResult:
    for value in (interval, start, end):
        if not isinstance(value, int):
            raise TypeError("the reference takes integer seconds only")
    windows = list(exclusions)
    vantages = [_vantage_state_at(s, interval, confirm_after) for s in samples.values()]

    states: list[str] = []
    for second in range(start, end):
        if any(a <= second < b for a, b in windows):
            states.append(EXCLUDED)
            continue
        votes = [v[second] for v in vantages if second in v]
        ups, downs = votes.count(UP), votes.count(DOWN)
        if downs > ups:
            states.append(DOWN)
        elif ups > downs:
            states.append(UP)
        else:
            states.append(UNKNOWN)

    bad = {DOWN, UNKNOWN} if conservative else {DOWN}
    outages: list[tuple[int, int]] = []
    for offset, state in enumerate(states):
        second = start + offset
        if state in bad:
            if outages and outages[-1][1] == second:
                outages[-1] = (outages[-1][0], second + 1)
            else:
                outages.append((second, second + 1))

    up, down = states.count(UP), states.count(DOWN)
    unknown, excluded = states.count(UNKNOWN), states.count(EXCLUDED)
    counted_down = down + unknown if conservative else down
    measured = (end - start) - excluded
    availability = Fraction(up, up + counted_down) if up + counted_down else None
    if measured == 0:
        coverage = None
    elif conservative:
        coverage = Fraction(1)
    else:
        coverage = Fraction(up + down, measured)
    return ReferenceResult(tuple(states), up, down, unknown, excluded, tuple(outages), availability, coverage)
