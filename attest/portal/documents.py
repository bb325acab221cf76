"""A tenant user's documents: the list by period (newest first, superseded and revoked ones
marked, each with its verdict summary) and the downloads (PDF, HTML, JSON, the DSSE envelopes,
tender and audit packs).

Which documents a user may have is decided by the signed evidence log only: a document id is
served when its `attest.document` record names the session's tenant. Another tenant's id and an
id nobody issued get the same 404, so ids cannot be probed; malformed ids and kinds get 400;
every refusal and every download is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from attest.portal import audit, library
from attest.portal.auth import require_role
from attest.portal.context import Portal, get_portal
from attest.portal.i18n import request_language
from attest.portal.library import DocumentLog, IssuedRecord
from attest.portal.listing import tenant_listing
from attest.portal.pages import page
from attest.portal.sessions import SignedIn
from attest.status import DocumentStatus
from evidence.log import LogIntegrityError

router = APIRouter(include_in_schema=False)

Tenant = Annotated[SignedIn, Depends(require_role("tenant"))]
NOT_FOUND = "No such document."
NOT_CURRENT = "Packs are built for the current document of a period only."


def _dlog(portal: Portal) -> DocumentLog:
    try:
        return library.document_log(portal)
    except LogIntegrityError:
        raise HTTPException(503, "The evidence log does not verify: the provider has been told.") from None


def _refuse(portal: Portal, request: Request, signed: SignedIn, status: int, outcome: str, message: str,
            detail: dict[str, Any]) -> HTTPException:
    audit.record(portal, request, "download", outcome, account=signed.username, tenant=signed.tenant_id,
                 detail=detail)
    return HTTPException(status, message)


def _own_document(portal: Portal, request: Request, signed: SignedIn, document_id: str, kind: str
                  ) -> tuple[DocumentStatus, IssuedRecord]:
    """The document's status and record when it is the session's tenant's; otherwise 404 (the
    same answer for another tenant's id and an unknown one), audited."""
    dlog = _dlog(portal)
    status, record = dlog.status(document_id), dlog.record(document_id)
    if not status.known or record is None:
        raise _refuse(portal, request, signed, 404, "not_found", NOT_FOUND, {"document_id": document_id, "kind": kind})
    if record.tenant != signed.tenant_id:
        # The owner is not named in the entry: it belongs to the requester's audit trail, which
        # that tenant may be shown; the provider finds the owner by the document id.
        raise _refuse(portal, request, signed, 404, "denied", NOT_FOUND, {"document_id": document_id, "kind": kind})
    return status, record


def _validated(portal: Portal, request: Request, signed: SignedIn, document_id: str, kind: str,
               allowed: Any) -> None:
    if not library.valid_document_id(document_id) or kind not in allowed:
        raise _refuse(portal, request, signed, 400, "bad_request", "Not a document id or download kind.",
                      {"document_id": document_id[:80], "kind": kind[:40]})


@router.get("/documents")
def documents_page(request: Request, signed: Tenant) -> Response:
    portal = get_portal(request)
    listing = tenant_listing(portal, _dlog(portal), str(signed.tenant_id), request_language(request))
    return page(request, "documents.html.j2", listing=listing, provider_name=portal.loaded.model.provider.name)


@router.get("/documents/{document_id}/pack/{kind}")
def download_pack(request: Request, signed: Tenant, document_id: str, kind: str) -> Response:
    portal = get_portal(request)
    what = f"{kind}-pack"
    _validated(portal, request, signed, document_id, kind, library.PACK_KINDS)
    status, record = _own_document(portal, request, signed, document_id, what)
    detail = {"document_id": document_id, "kind": what}
    if status.state != "current":  # a pack is of the period's current document: say so
        raise _refuse(portal, request, signed, 409, "not_current", NOT_CURRENT, detail)
    try:
        fh, size = library.open_pack(portal, record, str(signed.tenant_id), kind)
    except (library.FileProblem, library.PackRefused) as exc:
        # The reason may name paths or other tenants: it goes to the audit trail, not the page.
        raise _refuse(portal, request, signed, 409, "refused",
                      "This pack cannot be built now: the provider has been told.",
                      {**detail, "reason": str(exc)[:300]}) from None
    except library.NotCurrent:  # a newer document was issued meanwhile
        raise _refuse(portal, request, signed, 409, "not_current", NOT_CURRENT, detail) from None
    try:
        audit.record(portal, request, "download", "ok", account=signed.username, tenant=signed.tenant_id,
                     detail=detail)
    except BaseException:
        fh.close()
        raise
    # Streamed from the open file in chunks: memory stays flat whatever the pack's size, and the
    # bytes sent are those of the file that was checked (a file put in its place meanwhile is not).
    name = f"{document_id}-{kind}-pack.zip"
    return StreamingResponse(library.stream(fh), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(size)})


@router.get("/documents/{document_id}/{kind}")
def download(request: Request, signed: Tenant, document_id: str, kind: str) -> Response:
    portal = get_portal(request)
    _validated(portal, request, signed, document_id, kind, library.KINDS)
    _, record = _own_document(portal, request, signed, document_id, kind)
    detail = {"document_id": document_id, "kind": kind}
    try:
        data = library.checked_bytes(portal, record, kind)
    except library.FileProblem as exc:
        code = 409 if exc.outcome == "tampered" else 404
        raise _refuse(portal, request, signed, code, exc.outcome,
                      "This file cannot be served: the provider has been told." if code == 409 else NOT_FOUND,
                      detail) from None
    audit.record(portal, request, "download", "ok", account=signed.username, tenant=signed.tenant_id, detail=detail)
    suffix, media_type, _ = library.KINDS[kind]
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document_id}.{suffix}"'})


@router.get("/documents/{rest:path}")
def anything_else(request: Request, signed: Tenant, rest: str) -> Response:
    """Any other path under /documents (e.g. ../ sequences that did not match a download):
    404, audited, like an unknown document."""
    portal = get_portal(request)
    raise _refuse(portal, request, signed, 404, "not_found", NOT_FOUND, {"path": request.url.path[:200]})
