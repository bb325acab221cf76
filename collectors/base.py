"""The collector interface. Collectors collect and never judge (DESIGN.md §3.1).

A collector reads one configured source and hands the runner records (one per subject) and
artifacts (the raw responses, scrubbed). It raises `SourceFailed` (or anything else) when the
source could not be read completely; the runner then records the source as failed, keeps what
was emitted before the failure, and goes on with the next source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from evidence.log import NewRecord


class SourceFailed(Exception):
    """The source could not be read completely. The message is shown to the operator and stored
    in the run; it must never contain a secret."""


@dataclass
class Emitter:
    """What a collector writes into: records and artifacts, buffered until the runner stores them."""

    source_id: str
    put_artifact: Callable[[bytes, str], str]
    records: list[NewRecord] = field(default_factory=list)

    def artifact(self, data: bytes, media_type: str = "application/json") -> str:
        return self.put_artifact(data, media_type)

    def record(self, kind: str, subject: str, payload: dict[str, Any], *, artifacts: tuple[str, ...] = (),
               collected_at: datetime | None = None) -> None:
        self.records.append(NewRecord(source=self.source_id, kind=kind, subject=subject, payload=payload,
                                      collected_at=collected_at or datetime.now(UTC), artifacts=artifacts))


class Collector(Protocol):
    source_id: str
    source_type: str

    def collect(self, out: Emitter) -> None:
        """Read the source and emit records; raise SourceFailed when it could not be read completely."""
