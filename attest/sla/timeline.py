"""SLA-01's month at a glance: each instance's evaluated timeline as the attestation's `Timeline`
data, which the document draws as a chart (attest.render.timeline).

Only what was not plainly up is listed (down, no data, excluded maintenance); up is the rest of
the measured time. A lane that would list more than `MAX_SPANS` spans (a flapping instance over a
month of 60 s probes) is drawn at a coarser resolution — spans closer than it are drawn as one,
the worst state kept — and says so in `resolution_s`; the figures never use this, only the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from attest.attestation import LocalizedText, SpanState, Timeline, TimelineLane, TimelineSpan
from attest.sla.engine import SlaResult, State

MAX_SPANS = 400  # per lane: the chart is ~500 points wide, so more could not be told apart anyway
_STATES: dict[State, SpanState] = {State.DOWN: "down", State.UNKNOWN: "unknown", State.EXCLUDED: "excluded"}
# Worst first: when spans are drawn together, the drawn span shows the worst of them.
_RANK: dict[SpanState, int] = {"down": 0, "unknown": 1, "excluded": 2}

Span = tuple[float, float, SpanState]


def _instant(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def coalesce(spans: Sequence[Span], max_spans: int = MAX_SPANS) -> tuple[list[Span], int]:
    """*spans* (sorted, disjoint) reduced to at most *max_spans* by drawing spans less than a
    resolution apart as one (worst state kept), the resolution doubling from one minute until
    they fit. Returns the spans and the resolution used (0 when nothing was merged)."""
    if len(spans) <= max_spans:
        return list(spans), 0
    resolution = 60
    while True:
        merged: list[Span] = []
        for a, b, state in spans:
            if merged and a - merged[-1][1] < resolution:
                pa, _pb, ps = merged[-1]
                merged[-1] = (pa, b, state if _RANK[state] < _RANK[ps] else ps)
            else:
                merged.append((a, b, state))
        if len(merged) <= max_spans:
            return merged, resolution
        resolution *= 2


def lane(result: SlaResult, max_spans: int = MAX_SPANS) -> TimelineLane:
    raw = [(s.start, s.end, _STATES[s.state]) for s in result.timeline if s.state in _STATES]
    spans, resolution = coalesce(raw, max_spans)
    return TimelineLane(label=result.instance, resolution_s=resolution,
                        spans=[TimelineSpan(start=_instant(a), end=_instant(b), state=st)
                               for a, b, st in spans])


def month_timeline(results: Sequence[SlaResult], period_start: datetime, period_end: datetime,
                   measured_until: datetime, time_zone: str, title: LocalizedText) -> Timeline:
    return Timeline(title=title, start=period_start, end=period_end,
                    measured_until=min(max(measured_until, period_start), period_end), time_zone=time_zone,
                    lanes=[lane(r) for r in results])
