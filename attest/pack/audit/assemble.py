"""The audit report's content from the pack's inputs: the attestation, the records it cites, the
catalog and the document index (for the history)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from attest.attestation import Attestation
from attest.catalog import load_catalog
from attest.pack.audit.art28 import art28_checklist
from attest.pack.audit.art32 import art32_matrix
from attest.pack.audit.history import verdict_history
from attest.pack.audit.location import data_location
from attest.pack.audit.model import AuditContent
from attest.pack.audit.subprocessors import subprocessors
from attest.status import DocumentIndex
from evidence.log import EvidenceLog


def audit_content(att: Attestation, records: Mapping[int, bytes], index: DocumentIndex, output_dir: Path,
                  log: EvidenceLog) -> AuditContent:
    catalog = [c.entry for c in load_catalog()]
    matrix = art32_matrix(att, catalog)
    location = data_location(att, records)
    history = verdict_history(index, output_dir, log, att.tenant.id, att.period, att)
    seen = {c for h in history for c in h.verdicts}
    known = [c.id for c in catalog if c.id in seen]
    return AuditContent(
        provider=att.provider, tenant=att.tenant, period=att.period, document_id=att.document_id,
        checkpoint={"log_id": att.checkpoint.log_id, "tree_size": att.checkpoint.tree_size,
                    "root_hash": att.checkpoint.root_hash},
        evidence_generated_at=att.generated_at,
        art32=matrix,
        art28=art28_checklist(att, catalog, location, matrix),
        location=location,
        subprocessors=subprocessors(location, records),
        history=history,
        controls=known + sorted(seen - set(known)),
    )
