"""A tenant user's documents: the list by period (newest first, superseded and revoked ones
marked, each with its verdict summary) and the downloads (PDF, HTML, JSON, the DSSE envelopes,
tender and audit packs).

Which documents a user may have is decided by the signed evidence log only: a document id is
served when its `attest.document` record names the session's tenant. Another tenant's id and an
id nobody issued get the same 404, so ids cannot be probed; malformed ids and kinds get 400;
every refusal and every download is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from attest.portal import audit, library
from attest.portal.auth import require_role
from attest.portal.context import Portal, get_portal
from attest.portal.i18n import request_language
from attest.portal.library import DocumentLog, IssuedRecord
from attest.portal.listing import kept_listing, tenant_listing
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


async def _dlog_async(portal: Portal) -> DocumentLog:
    """The document view: on the event loop when it is current (the usual case), else read in a
    thread (a new checkpoint: the records appended since the last one are read and checked)."""
    view = library.kept_document_log(portal)
    return view if view is not None else await run_in_threadpool(_dlog, portal)


class Refusal(NamedTuple):
    status: int
    outcome: str
    message: str
    detail: dict[str, Any]


def _refuse(portal: Portal, request: Request, signed: SignedIn, status: int, outcome: str, message: str,
            detail: dict[str, Any]) -> HTTPException:
    audit.record(portal, request, "download", outcome, account=signed.username, tenant=signed.tenant_id,
                 detail=detail)
    return HTTPException(status, message)


async def _refuse_async(portal: Portal, request: Request, signed: SignedIn, refusal: Refusal) -> HTTPException:
    await audit.record_async(portal, request, "download", refusal.outcome, account=signed.username,
                             tenant=signed.tenant_id, detail=refusal.detail)
    return HTTPException(refusal.status, refusal.message)


def _ownership(dlog: DocumentLog, signed: SignedIn, document_id: str, kind: str
               ) -> tuple[DocumentStatus, IssuedRecord] | Refusal:
    """The document's status and record when it is the session's tenant's; otherwise a 404 (the
    same answer for another tenant's id and an unknown one), to be audited."""
    status, record = dlog.status(document_id), dlog.record(document_id)
    detail = {"document_id": document_id, "kind": kind}
    if not status.known or record is None:
        return Refusal(404, "not_found", NOT_FOUND, detail)
    if record.tenant != signed.tenant_id:
        # The owner is not named in the entry: it belongs to the requester's audit trail, which
        # that tenant may be shown; the provider finds the owner by the document id.
        return Refusal(404, "denied", NOT_FOUND, detail)
    return status, record


def _own_document(portal: Portal, request: Request, signed: SignedIn, document_id: str, kind: str
                  ) -> tuple[DocumentStatus, IssuedRecord]:
    found = _ownership(_dlog(portal), signed, document_id, kind)
    if isinstance(found, Refusal):
        raise _refuse(portal, request, signed, *found)
    return found


def _invalid(document_id: str, kind: str, allowed: Any) -> Refusal | None:
    if not library.valid_document_id(document_id) or kind not in allowed:
        return Refusal(400, "bad_request", "Not a document id or download kind.",
                       {"document_id": document_id[:80], "kind": kind[:40]})
    return None


def _validated(portal: Portal, request: Request, signed: SignedIn, document_id: str, kind: str,
               allowed: Any) -> None:
    refusal = _invalid(document_id, kind, allowed)
    if refusal is not None:
        raise _refuse(portal, request, signed, *refusal)


@router.get("/documents")
async def documents_page(request: Request, signed: Tenant) -> Response:
    # A coroutine: the page is the most requested one and, once its list is rendered for the
    # current view, costs no I/O but one indexed read; a thread hand-off was a tenth of its cost.
    portal = get_portal(request)
    dlog = await _dlog_async(portal)
    tenant, lang = str(signed.tenant_id), request_language(request)
    listing = (kept_listing(portal, dlog, tenant, lang)
               or await run_in_threadpool(tenant_listing, portal, dlog, tenant, lang))
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
async def download(request: Request, signed: Tenant, document_id: str, kind: str) -> Response:
    """A document's file, checked against its signed record. A coroutine like the list: the PDF,
    HTML and JSON are read and hashed on the event loop (a document is tens or hundreds of KiB,
    read from the page cache); a DSSE envelope's signature check goes to a thread."""
    portal = get_portal(request)
    refusal = _invalid(document_id, kind, library.KINDS)
    found = refusal or _ownership(await _dlog_async(portal), signed, document_id, kind)
    if isinstance(found, Refusal):
        raise await _refuse_async(portal, request, signed, found)
    _, record = found
    detail = {"document_id": document_id, "kind": kind}
    suffix, media_type, digest_of = library.KINDS[kind]
    try:
        data = (library.checked_bytes(portal, record, kind) if suffix == digest_of
                else await run_in_threadpool(library.checked_bytes, portal, record, kind))
    except library.FileProblem as exc:
        code = 409 if exc.outcome == "tampered" else 404
        raise await _refuse_async(portal, request, signed, Refusal(
            code, exc.outcome, "This file cannot be served: the provider has been told." if code == 409 else NOT_FOUND,
            detail)) from None
    await audit.record_async(portal, request, "download", "ok", account=signed.username, tenant=signed.tenant_id,
                             detail=detail)
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document_id}.{suffix}"'})


@router.get("/documents/{rest:path}")
def anything_else(request: Request, signed: Tenant, rest: str) -> Response:
    """Any other path under /documents (e.g. ../ sequences that did not match a download):
    404, audited, like an unknown document."""
    portal = get_portal(request)
    raise _refuse(portal, request, signed, 404, "not_found", NOT_FOUND, {"path": request.url.path[:200]})
