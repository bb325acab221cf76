"""Periods are calendar months in the provider's time zone (DESIGN.md §3.10)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from attest.errors import BadInput

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    label: str  # YYYY-MM
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    time_zone: str

    def as_of(self, now: datetime | None = None) -> datetime:
        """Evidence is judged as of min(period end, now)."""
        now = now or datetime.now(UTC)
        return min(self.end, now)


def parse_period(label: str, time_zone: str) -> Period:
    m = _PERIOD.match(label)
    if not m:
        raise BadInput(f"--period {label!r}: expected YYYY-MM, e.g. 2026-11")
    year, month = int(m.group(1)), int(m.group(2))
    tz = ZoneInfo(time_zone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return Period(label, start.astimezone(UTC), end.astimezone(UTC), time_zone)


def current_period(time_zone: str, now: datetime | None = None) -> Period:
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(time_zone))
    return parse_period(f"{local.year:04d}-{local.month:02d}", time_zone)


def parse_instant(text: str) -> datetime:
    """--as-of: an ISO 8601 instant; a date alone or a time without offset is refused as ambiguous."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInput(f"--as-of {text!r}: not an ISO 8601 instant (e.g. 2026-11-30T23:00:00Z)") from exc
    if moment.tzinfo is None:
        raise BadInput(f"--as-of {text!r}: give a time zone offset or Z, e.g. 2026-11-30T23:00:00Z")
    return moment.astimezone(UTC)
