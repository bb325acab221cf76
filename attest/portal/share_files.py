"""What a share link hands out: the document's PDF with a recipient stamp, or its tender or audit
pack (the fleet pack for the provider-wide attestation), always for the link's own document (never
whatever is newest: a link shares one document)."""

from __future__ import annotations

from typing import Any

from attest.canonical import sha256_hex
from attest.errors import AttestError, BadInput
from attest.portal.context import Portal
from attest.portal.shares import LinkInfo
from attest.status import DocumentStatus
from evidence.log import DOCUMENT_KIND

PACK_KINDS = {"tender-pack": "tender", "audit-pack": "audit", "fleet-pack": "fleet"}


def _issue_record(portal: Portal, status: DocumentStatus) -> dict[str, Any]:
    """The payload of the signed `attest.document` record *status* counts ({} if not found)."""
    return next((r.payload for r in portal.log.records(kind=DOCUMENT_KIND, subject=f"document/{status.document_id}")
                 if r.idx == status.record_idx), {})


def document_pdf(portal: Portal, status: DocumentStatus) -> bytes:
    """The issued PDF, checked against the digest its signed `attest.document` record holds.
    Under output_dir/<tenant>/<period>/, where `attest render` wrote it ("_fleet" for the
    provider-wide attestation: attest/fleet/issue.py)."""
    doc_id = status.document_id
    path = portal.loaded.output_dir / str(status.tenant) / str(status.period) / f"{doc_id}.pdf"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the document ({exc.strerror})") from None
    recorded = _issue_record(portal, status).get("files") or {}
    if sha256_hex(data) != recorded.get("pdf"):
        raise BadInput(f"{path}: differs from the PDF recorded in the evidence log when {doc_id} was issued")
    return data


def shared_file(portal: Portal, link: LinkInfo, status: DocumentStatus) -> tuple[str, str, bytes]:
    """(file name, media type, bytes) for *link*. BadInput when it cannot be prepared."""
    if status.document_id != link.document_id or status.tenant != link.tenant:
        raise BadInput(f"share link {link.public_id}: the document status is not its document's")  # a caller bug
    if link.scope == "pdf":
        from attest.portal.stamp import stamp_pdf

        # The stamp is in the document's language: a tenant's, or the one the fleet attestation
        # was rendered in (`attest render --fleet --lang`), which its signed record names.
        lang = (str(_issue_record(portal, status).get("language") or "en") if link.fleet
                else portal.loaded.tenant(link.tenant).language)
        try:
            stamped = stamp_pdf(document_pdf(portal, status), link.recipient, portal.now(), lang)
        except (ValueError, AttestError) as exc:
            raise BadInput(f"{link.document_id}: the recipient stamp cannot be added: {exc}") from None
        return f"{link.document_id}.pdf", "application/pdf", stamped
    from attest.pack.build import build_pack
    from attest.pack.fleet import build_fleet_pack

    kind = PACK_KINDS[link.scope]
    if (kind == "fleet") != link.fleet:  # create_link refuses these; a row edited by hand is not served
        raise BadInput(f"share link {link.public_id}: scope {link.scope} does not fit {link.document_id}")
    if link.fleet:
        pack = build_fleet_pack(portal.loaded, portal.log, portal.signer, status.period)
    else:
        pack = build_pack(portal.loaded, portal.log, portal.signer, link.tenant, status.period, kind)
    if pack.document_id != link.document_id:
        # The newest document of the period changed between the check and the build.
        raise BadInput(f"share link {link.public_id}: {link.document_id} is no longer the current document")
    return f"{link.document_id}-{kind}-pack.zip", "application/zip", pack.data
