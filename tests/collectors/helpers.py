"""Run a real collection (attest.collect.run_collection, SQLite evidence log) against a lab."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attest.collect import RunSummary, SourceResult, run_collection
from attest.config import LoadedConfig
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog, StoredRecord


@dataclass
class Collected:
    ws: LoadedConfig
    log: EvidenceLog
    summary: RunSummary

    def source(self, source_id: str = "pve-main") -> SourceResult:
        return next(s for s in self.summary.sources if s.source_id == source_id)

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        return {r.subject: r.payload for r in self.log.records(kind=kind)}

    def record(self, kind: str, subject: str) -> StoredRecord:
        return next(r for r in self.log.records(kind=kind) if r.subject == subject)

    def failures(self, source_id: str = "pve-main") -> list[dict[str, Any]]:
        return list(self.source(source_id).failures)


def signer(ws: LoadedConfig) -> ProviderSigner:
    return ProviderSigner.load(ws.resolve(ws.model.provider.signing.pkcs12_file), ws.signing_password())


def workspace(directory: Path, url: str, ca_path: Path, *, extra_sources: list[dict[str, Any]] | None = None,
              secrets: dict[str, str] | None = None, **source_overrides: Any) -> LoadedConfig:
    """The demo workspace pointed at a lab; extra sources (a PBS) and their secret files."""
    from attest.config import load_config
    from attest.lab.world import demo_world
    from attest.workspace import config_document, init_workspace, write_config

    init_workspace(directory)
    doc = config_document(demo_world(), url, str(ca_path))
    doc["sources"][0].update(source_overrides)
    doc["sources"] += extra_sources or []
    for name, value in (secrets or {}).items():
        (directory / "secrets" / name).write_text(value)
    return load_config(write_config(directory, doc))


@contextmanager
def collected(ws: LoadedConfig) -> Iterator[Collected]:
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    try:
        yield Collected(ws, log, run_collection(ws, log, signer(ws)))
    finally:
        log.close()
