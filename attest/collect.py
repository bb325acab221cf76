"""One collection run over the configured sources, ending with a signed checkpoint.

A failed source never aborts the others and never erases earlier evidence: what it emitted
before failing is kept, its outcome and error are recorded, and the run is marked partial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from attest.canonical import utc_iso
from attest.config import LoadedConfig
from attest.errors import AttestError
from collectors.base import Emitter, SourceFailed
from collectors.registry import build_collector
from evidence.log import CheckpointSigner, EvidenceLog, SignedCheckpoint
from evidence.scrub import scrub_text


@dataclass
class SourceResult:
    source_id: str
    source_type: str
    status: str  # ok | partial (some parts unreadable, listed in failures) | failed (could not go on)
    records: int
    error: str | None
    started_at: datetime
    finished_at: datetime
    failures: list[dict[str, str | None]] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class RunSummary:
    run_id: int
    status: str  # ok | partial (any source failed)
    checkpoint: SignedCheckpoint
    sources: list[SourceResult] = field(default_factory=list)

    @property
    def all_ok(self) -> bool:
        return all(s.ok for s in self.sources)


def run_collection(config: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner,
                   only: list[str] | None = None,
                   progress: Callable[[str], None] | None = None, wait_s: float = 0) -> RunSummary:
    sources = [s for s in config.model.sources if not only or s.id in only]
    log.redact_values(config.known_secrets())  # a token pasted into a VM's notes is stored as REDACTED
    run_id = log.begin_run("collect", signer, wait_s)
    results: list[SourceResult] = []
    for source in sources:
        if progress:
            progress(source.id)
        started = datetime.now(UTC)
        # Records go to the log every few thousand while the collector goes on: a big cluster's
        # records are never all held in memory at once.
        out = Emitter(source.id, log.put_artifact, sink=lambda batch: len(log.append(run_id, batch)))
        error: str | None = None
        try:
            collector = build_collector(config, source)
            collector.collect(out)
        except (SourceFailed, AttestError) as exc:
            error = str(exc)
        except Exception as exc:  # a collector bug must not lose the other sources' evidence
            error = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            out.flush()  # what was emitted before a failure is kept too
        finished = datetime.now(UTC)
        error = scrub_text(error) if error else None
        failures = [{**f.as_dict(), "error": scrub_text(f.error)} for f in out.failures]
        status = "failed" if error else ("partial" if failures else "ok")
        if status == "partial":
            error = f"{len(failures)} part(s) unreadable: " + "; ".join(str(f["error"]) for f in failures[:3])
        results.append(SourceResult(source.id, source.type, status, out.stored, error, started, finished,
                                    failures, list(out.sections)))
    # Any failed source makes the run partial: what the others (and the failed one, before it
    # failed) collected is kept and signed, but checks will not treat it as a complete picture.
    status = "ok" if all(r.ok for r in results) else "partial"
    # The outcomes go into the signed `attest.run` record: checks judge completeness and age from it.
    checkpoint = log.finish_run(run_id, status, signer, {"sources": [
        {"source": r.source_id, "type": r.source_type, "status": r.status, "error": r.error,
         "started_at": utc_iso(r.started_at), "finished_at": utc_iso(r.finished_at), "records": r.records,
         "sections": r.sections, "failures": r.failures}
        for r in results]})
    return RunSummary(run_id, status, checkpoint, results)
