"""The tenant's verdicts over the last 12 periods ending at the pack's period.

Each period's current document is read from the signed log's index (newest, not revoked) and its
verdicts from the stored attestation JSON, checked against the digest its `attest.document`
record signed: nothing is re-evaluated or re-rendered, so a 12-month report costs 12 small reads.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from attest.attestation import Attestation
from attest.canonical import sha256_hex
from attest.pack.audit import HISTORY_PERIODS
from attest.pack.audit.model import HistoryEntry
from attest.status import DocumentIndex
from evidence.log import DOCUMENT_KIND, EvidenceLog


def last_periods(period: str, count: int = HISTORY_PERIODS) -> list[str]:
    """*count* YYYY-MM labels ending at *period*, oldest first."""
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def stored_attestation(output_dir: Path, log: EvidenceLog, tenant: str, period: str, document_id: str,
                       record_idx: int | None) -> Attestation | str:
    """The stored attestation JSON, or why it cannot be used (missing, or not what the log recorded)."""
    path = output_dir / tenant / period / f"{document_id}.json"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    recorded = next((r.payload.get("files") or {} for r in log.records(kind=DOCUMENT_KIND,
                                                                       subject=f"document/{document_id}")
                     if r.idx == record_idx), {})
    if sha256_hex(data) != recorded.get("json"):
        return f"{path.name} differs from the file recorded in the evidence log"
    try:
        return Attestation.from_json_bytes(data)
    except (ValueError, ValidationError):
        return f"{path.name} is not a well-formed attestation"


def verdict_history(index: DocumentIndex, output_dir: Path, log: EvidenceLog, tenant: str, period: str,
                    current: Attestation) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for label in last_periods(period):
        newest = index.newest(tenant, label)
        if newest is None:
            entries.append(HistoryEntry(period=label, state="none"))
            continue
        if newest.revocation is not None:
            entries.append(HistoryEntry(period=label, state="revoked", document_id=newest.document_id,
                                        note=f"revoked {newest.revocation.revoked_at:%Y-%m-%d}: "
                                             f"{newest.revocation.reason}"))
            continue
        att: Attestation | str = (current if newest.document_id == current.document_id else
                                  stored_attestation(output_dir, log, tenant, label, newest.document_id,
                                                     newest.record_idx))
        if isinstance(att, str):
            entries.append(HistoryEntry(period=label, state="unreadable", document_id=newest.document_id,
                                        overall=newest.overall, note=att))
            continue
        entries.append(HistoryEntry(period=label, state="current", document_id=att.document_id,
                                    overall=att.overall.value,
                                    verdicts={r.control_id: r.verdict.value for r in att.results}))
    return entries
