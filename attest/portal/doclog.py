"""What the portal knows about issued documents, read from the signed evidence log only: each
``attest.document`` record (tenant, period, the SHA-256 of its files) and its status through
``attest.status.DocumentIndex`` (current / superseded / revoked).

Reading the index checks the latest checkpoint against the whole log, so it is cached per portal
and read again only when a new checkpoint appears (a render or `attest revoke` in another
process): a request never answers from a log older than its newest checkpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from attest.portal.context import Portal
from attest.status import DOCUMENT_ID, SOURCE, DocumentIndex, DocumentStatus
from evidence.log import DOCUMENT_KIND

FLEET_TENANT = "_fleet"  # attest/fleet/model.py FLEET_SCOPE: the provider-wide document's key
FILE_KINDS = ("pdf", "html", "json")  # the files an `attest.document` record gives digests for


@dataclass(frozen=True)
class IssuedRecord:
    """One document's signed `attest.document` record (the first one for its id counts)."""

    document_id: str
    tenant: str
    period: str
    supersedes: str | None
    overall: str | None
    issued_at: datetime
    files: dict[str, str]  # "pdf" | "html" | "json" -> SHA-256 hex

    @property
    def fleet(self) -> bool:
        return self.tenant == FLEET_TENANT

    def path(self, output_dir: Path, ext: str) -> Path:
        """Where `attest render` wrote the file: output_dir/<tenant>/<period>/<id>.<ext>. Every
        part comes from the signed record and the id matches DOCUMENT_ID, so this never leaves
        output_dir."""
        return output_dir / self.tenant / self.period / f"{self.document_id}.{ext}"


@dataclass
class DocumentLog:
    index: DocumentIndex
    records: dict[str, IssuedRecord]
    by_digest: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> (document id, kind)

    def status(self, document_id: str) -> DocumentStatus:
        return self.index.status(document_id)

    def record(self, document_id: str) -> IssuedRecord | None:
        return self.records.get(document_id)

    def for_tenant(self, tenant: str) -> list[IssuedRecord]:
        """*tenant*'s documents, newest first."""
        return sorted((r for r in self.records.values() if r.tenant == tenant),
                      key=lambda r: (r.period, r.issued_at), reverse=True)


def valid_document_id(text: str) -> bool:
    """Strict: exactly as issued (no case folding, no blanks), checked before any lookup."""
    return DOCUMENT_ID.fullmatch(text) is not None


def trust_anchors(portal: Portal) -> list[x509.Certificate]:
    """The provider's trust anchors from the configuration, as `attest verify` loads them."""
    from attest.verify import load_trust_anchors

    loaded = portal.loaded
    return load_trust_anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])


_lock = threading.Lock()
_cache: dict[int, tuple[Portal, tuple[int, int] | None, DocumentLog]] = {}


def document_log(portal: Portal) -> DocumentLog:
    """The documents as of the log's latest checkpoint (cached until it changes). Raises
    LogIntegrityError when the log does not match its checkpoint."""
    cp = portal.log.latest_checkpoint()
    key = (cp.id, cp.tree_size) if cp else None
    with _lock:
        hit = _cache.get(id(portal))
        if hit is not None and hit[0] is portal and hit[1] == key:
            return hit[2]
    loaded = _load(portal)
    with _lock:
        _cache[id(portal)] = (portal, key, loaded)
    return loaded


def _load(portal: Portal) -> DocumentLog:
    index = DocumentIndex.load(portal.log, trust_anchors(portal))
    size = index.checkpoint.tree_size if index.checkpoint else 0
    records: dict[str, IssuedRecord] = {}
    for rec in portal.log.records(kind=DOCUMENT_KIND, up_to=size):
        p = rec.payload
        doc_id = p.get("document_id")
        # The same filter as DocumentIndex.load, so both agree on what is known.
        if (rec.source != SOURCE or not isinstance(doc_id, str) or rec.subject != f"document/{doc_id}"
                or doc_id in records or not valid_document_id(doc_id)):
            continue
        raw_files = p.get("files")
        files = {k: v for k, v in (raw_files if isinstance(raw_files, dict) else {}).items()
                 if k in FILE_KINDS and isinstance(v, str)}
        supersedes = p.get("supersedes")
        records[doc_id] = IssuedRecord(doc_id, str(p.get("tenant")), str(p.get("period")),
                                       supersedes if isinstance(supersedes, str) else None,
                                       str(p["overall"]) if p.get("overall") is not None else None,
                                       rec.collected_at, files)
    by_digest: dict[str, tuple[str, str]] = {}
    for r in records.values():
        for kind, digest in r.files.items():
            by_digest.setdefault(digest.lower(), (r.document_id, kind))
    return DocumentLog(index, records, by_digest)
