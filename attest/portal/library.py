"""The issued documents as the portal sees them: read from the signed evidence log
(`attest.document` records through DocumentIndex), never from a folder listing, and each file
checked against the digest its record signed before anyone is given it.

A file's path is built only from the signed record (tenant, period) and a validated document id
and a kind from a fixed set; nothing a request says is ever joined to a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from attest.attestation import Attestation
from attest.canonical import sha256_hex
from attest.portal.context import Portal
from attest.signing import DSSE_SUFFIX
from attest.status import DOCUMENT_ID, DocumentIndex, DocumentStatus
from evidence.log import DOCUMENT_KIND

# kind in the URL -> (file suffix, media type, the recorded digest it is checked against)
KINDS: dict[str, tuple[str, str, str]] = {
    "pdf": ("pdf", "application/pdf", "pdf"),
    "html": ("html", "text/html; charset=utf-8", "html"),
    "json": ("json", "application/json", "json"),
    "html.dsse.json": ("html" + DSSE_SUFFIX, "application/json", "html"),
    "json.dsse.json": ("json" + DSSE_SUFFIX, "application/json", "json"),
}
PACK_KINDS = ("tender", "audit")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PERIOD = re.compile(r"^[0-9]{4}-[0-9]{2}$")


class FileProblem(Exception):
    """A document file is missing, or differs from what its record signed."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome  # "missing" | "tampered"


def valid_document_id(text: str) -> bool:
    return bool(DOCUMENT_ID.fullmatch(text))


def load_index(portal: Portal) -> DocumentIndex:
    """The signed document index (LogIntegrityError when the log's checkpoint does not check
    out against the configured trust anchors)."""
    from attest.verify import load_trust_anchors

    anchors = load_trust_anchors([portal.loaded.resolve(p) for p in portal.loaded.model.provider.trust_anchors])
    return DocumentIndex.load(portal.log, anchors)


@dataclass(frozen=True)
class Listed:
    status: DocumentStatus
    files: dict[str, str]  # ext -> SHA-256 hex, as signed at issue


def tenant_documents(portal: Portal, index: DocumentIndex, tenant: str) -> list[Listed]:
    """Every signed document of *tenant*, newest first (log order)."""
    size = index.checkpoint.tree_size if index.checkpoint else 0
    found: list[Listed] = []
    seen: set[str] = set()
    for rec in portal.log.records(kind=DOCUMENT_KIND, up_to=size):
        doc_id = rec.payload.get("document_id")
        if not isinstance(doc_id, str) or doc_id in seen:
            continue
        seen.add(doc_id)
        status = index.status(doc_id)
        if status.known and status.tenant == tenant and status.record_idx == rec.idx:
            files = rec.payload.get("files")
            found.append(Listed(status, dict(files) if isinstance(files, dict) else {}))
    return sorted(found, key=lambda d: d.status.record_idx or 0, reverse=True)


def recorded_files(portal: Portal, status: DocumentStatus) -> dict[str, str]:
    """The file digests the document's own (counted) `attest.document` record signed."""
    for rec in portal.log.records(kind=DOCUMENT_KIND, subject=f"document/{status.document_id}"):
        if rec.idx == status.record_idx:
            files = rec.payload.get("files")
            return dict(files) if isinstance(files, dict) else {}
    return {}


def document_path(portal: Portal, status: DocumentStatus, suffix: str) -> Path:
    """output_dir/<tenant>/<period>/<id>.<suffix>, from the signed record only; refuses anything
    that would not stay inside output_dir (defence in depth: the record is signed, but a tenant
    id is configuration)."""
    tenant, period = str(status.tenant), str(status.period)
    if not (_SAFE_SEGMENT.fullmatch(tenant) and _PERIOD.fullmatch(period) and valid_document_id(status.document_id)
            and suffix in {s for s, _, _ in KINDS.values()}):
        raise FileProblem("missing", "the document's record names no usable file")
    root = portal.loaded.output_dir.resolve()
    path = (root / tenant / period / f"{status.document_id}.{suffix}").resolve()
    if not path.is_relative_to(root):
        raise FileProblem("missing", "the document's file lies outside the document store")
    return path


def checked_bytes(portal: Portal, status: DocumentStatus, kind: str, files: dict[str, str] | None = None) -> bytes:
    """The bytes of one of the document's files, checked: PDF, HTML and JSON against the digests
    signed at issue; a DSSE envelope by verifying it over its (checked) subject."""
    suffix, _, digest_of = KINDS[kind]
    files = files if files is not None else recorded_files(portal, status)
    subject_path = document_path(portal, status, digest_of)
    try:
        subject = subject_path.read_bytes()
    except OSError:
        raise FileProblem("missing", "the document's file is not in the document store") from None
    if not files.get(digest_of) or sha256_hex(subject) != files[digest_of]:
        raise FileProblem("tampered", "the stored file differs from the one recorded when the document was issued")
    if suffix == digest_of:
        return subject
    path = document_path(portal, status, suffix)
    try:
        envelope = path.read_bytes()
    except OSError:
        raise FileProblem("missing", "the document's signature envelope is not in the document store") from None
    from attest.verify import UnusableInput, load_trust_anchors, verify_dsse

    anchors = load_trust_anchors([portal.loaded.resolve(p) for p in portal.loaded.model.provider.trust_anchors])
    try:
        valid = verify_dsse(path, anchors).valid
    except (UnusableInput, ValueError, OSError):
        valid = False
    if not valid:
        raise FileProblem("tampered", "the signature envelope does not verify over the document")
    return envelope


@dataclass(frozen=True)
class ControlSummary:
    control_id: str
    title: str
    verdict: str
    reason: str


def summary(portal: Portal, listed: Listed) -> tuple[list[ControlSummary], str | None]:
    """The per-control verdicts of a document, from its checked JSON; or ([], why not)."""
    try:
        data = checked_bytes(portal, listed.status, "json", listed.files)
        att = Attestation.from_json_bytes(data)
    except FileProblem as exc:
        return [], str(exc)
    except ValueError:
        return [], "the document's JSON cannot be read"
    lang = att.tenant.language

    def text(t: dict[str, str]) -> str:
        return t.get(lang) or t.get("en") or next(iter(t.values()), "")

    return [ControlSummary(r.control_id, text(r.title), r.verdict.value, text(r.reason)) for r in att.results], None


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def status_view(status: DocumentStatus) -> dict[str, Any]:
    """What a page shows of a document's status."""
    return {"id": status.document_id, "state": status.state, "overall": status.overall or "",
            "issued": when(status.issued_at), "period": status.period, "superseded_by": status.superseded_by,
            "revoked_at": when(status.revoked_at), "reason": status.reason or ""}
