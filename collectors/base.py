"""The collector interface. Collectors collect and never judge (DESIGN.md §3.1).

A collector reads one configured source and hands the runner records (one per subject) and
artifacts (the raw responses, scrubbed). A source is read in *sections* (e.g. "inventory", "ha",
"backup", "firewall"): the collector marks each section it read whole with `completed(section)`,
and each part it could not read with `failed(section, error, subject)` -- one guest on an offline
node, one storage that timed out -- and goes on. It raises `SourceFailed` (or anything else)
when it cannot go on at all. The runner keeps everything emitted, records the source as `ok`,
`partial` (some failures) or `failed` (raised), with the failures and completed sections, in the
run's signed `attest.run` record: checks judge completeness from there.
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


@dataclass(frozen=True)
class Failure:
    """One part of a source that could not be read. `subject` is the record subject the failure
    keeps from being known (e.g. "pve-main/qemu/105"), or None when the whole section is affected."""

    section: str
    error: str
    subject: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"section": self.section, "subject": self.subject, "error": self.error}


@dataclass
class Emitter:
    """What a collector writes into: records and artifacts. Records are buffered; with a *sink*
    (the runner's append to the open run) every `flush_every` records go to the log while the
    collector goes on, so storing a big cluster's records overlaps with fetching the rest."""

    source_id: str
    put_artifact: Callable[[bytes, str], str]
    records: list[NewRecord] = field(default_factory=list)  # not yet handed to the sink
    failures: list[Failure] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # sections read through (their failures listed)
    sink: Callable[[list[NewRecord]], int] | None = None  # stores records, returns how many were new
    flush_every: int = 5000
    stored: int = 0  # records the sink has stored so far

    def artifact(self, data: bytes, media_type: str = "application/json") -> str:
        return self.put_artifact(data, media_type)

    def record(self, kind: str, subject: str, payload: dict[str, Any], *, artifacts: tuple[str, ...] = (),
               collected_at: datetime | None = None) -> None:
        self.records.append(NewRecord(source=self.source_id, kind=kind, subject=subject, payload=payload,
                                      collected_at=collected_at or datetime.now(UTC), artifacts=artifacts))
        if self.sink is not None and len(self.records) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered records to the sink (nothing happens without one)."""
        if self.sink is None or not self.records:
            return
        batch, self.records = self.records, []
        self.stored += self.sink(batch)


    def failed(self, section: str, error: str, subject: str | None = None) -> None:
        """Record that part of *section* (one *subject*, or all of it) could not be read; the
        message must never contain a secret (the runner scrubs it again)."""
        self.failures.append(Failure(section, error, subject))

    def completed(self, section: str) -> None:
        """Mark *section* as read through: everything in it is either emitted or listed in `failures`."""
        if section not in self.sections:
            self.sections.append(section)


class Collector(Protocol):
    source_id: str
    source_type: str

    def collect(self, out: Emitter) -> None:
        """Read the source and emit records; raise SourceFailed when it could not be read completely."""
