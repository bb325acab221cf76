"""SLA evidence: the availability engine (probe samples → UP/DOWN/UNKNOWN time, outages, figures)."""

from attest.sla.engine import (
    CONSECUTIVE_FACTOR,
    Outage,
    Segment,
    SlaResult,
    State,
    VantageStats,
    evaluate,
    merge_worst,
)

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
