"""The token-authenticated JSON API (``/api/v1``) for providers that embed their customers'
attestations in their own customer area.

Each token belongs to one tenant (attest/portal/tokens.py; `attest tokens add`). Everything comes
from the signed log: a document is the token's tenant's only if its signed ``attest.document``
record says so, and another tenant's id is answered exactly like an id that does not exist
(404), so a token learns nothing about other tenants. A file is served from
``output_dir/<tenant>/<period>/<id>.<ext>`` only if its SHA-256 is the one the record signed
(409 otherwise: the store and the log disagree, and nobody should get the changed file).

Every call is audited (action ``api``, the token's public id as ``link``); a failed
authentication too, under the public id the presented token claims, if it is well formed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from attest.canonical import utc_iso
from attest.portal import audit
from attest.portal.context import Portal, get_portal
from attest.portal.library import DocumentLog, IssuedRecord, document_log, valid_document_id
from attest.portal.tokens import TokenInfo, authenticate, public_id_of
from attest.signing import DSSE_SUFFIX
from evidence.log import LogIntegrityError

router = APIRouter(prefix="/api/v1", tags=["documents"])
bearer = HTTPBearer(auto_error=False, description="A tenant's API token (`attest tokens add`): atk_<id>_<secret>")

MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json",
               "html.dsse.json": "application/json", "json.dsse.json": "application/json"}
PortalDep = Annotated[Portal, Depends(get_portal)]
_NOT_FOUND = "no such document"  # the same words for another tenant's and a missing one
KindParam = Annotated[str, PathParam(description="pdf, html, json, html.dsse.json or json.dsse.json")]


class Links(BaseModel):
    self: str
    verify: str  # the public verification page (the QR code's target)
    files: dict[str, str]


class DocumentSummary(BaseModel):
    document_id: str
    period: str
    status: Literal["current", "superseded", "revoked"]
    overall: str | None
    issued_at: str
    supersedes: str | None
    superseded_by: str | None
    links: Links


class DocumentList(BaseModel):
    tenant: str
    documents: list[DocumentSummary]


class ControlVerdict(BaseModel):
    control_id: str
    title: str
    duty: str
    verdict: str
    reason: str


class Revocation(BaseModel):
    at: str
    by: str
    reason: str


class DocumentDetail(DocumentSummary):
    revoked: Revocation | None
    files_sha256: dict[str, str]
    language: str
    results: list[ControlVerdict]


class Problem(BaseModel):
    detail: str


class _Caller:
    def __init__(self, token: TokenInfo) -> None:
        self.token = token


def _unauthorized(portal: Portal, request: Request, claimed: str | None, why: str) -> HTTPException:
    audit.record(portal, request, "api", "denied", link=claimed,
                 detail={"path": request.url.path[:200], "error": why})
    return HTTPException(401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"})


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           portal: PortalDep) -> _Caller:
    """The authenticated token, or 401 (audited). The token itself is never recorded."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(portal, request, None, "missing")
    token = credentials.credentials
    claimed = public_id_of(token)
    # Read then write (last_used_at): take SQLite's write lock at BEGIN, or a concurrent writer
    # (the audit sealer) makes the update fail at once instead of waiting.
    with audit.writing(portal) as s:
        info = authenticate(s, token, utc_iso(portal.now()))
    if info is None:
        raise _unauthorized(portal, request, claimed, "invalid")
    return _Caller(info)


CallerDep = Annotated[_Caller, Depends(caller)]


def _log(portal: Portal) -> DocumentLog:
    try:
        return document_log(portal)
    except LogIntegrityError:
        raise HTTPException(503, "the evidence log cannot be read right now") from None


def _own(portal: Portal, request: Request, who: _Caller, document_id: str) -> tuple[DocumentLog, IssuedRecord]:
    """The token's tenant's document *document_id*, or 404 (audited) — the same for a malformed
    id, an unknown one and another tenant's."""
    dlog = _log(portal)
    record = dlog.record(document_id) if valid_document_id(document_id) else None
    if record is None or record.tenant != who.token.tenant_id:
        audit.record(portal, request, "api", "not_found", link=who.token.public_id, tenant=who.token.tenant_id,
                     detail={"path": request.url.path[:200],
                             "document_id": document_id if valid_document_id(document_id) else None})
        raise HTTPException(404, _NOT_FOUND)
    return dlog, record


def _summary(dlog: DocumentLog, record: IssuedRecord) -> DocumentSummary:
    status = dlog.status(record.document_id)
    base = f"/api/v1/documents/{record.document_id}"
    state = status.state if status.state != "unknown" else "current"  # a record always has a status
    return DocumentSummary(
        document_id=record.document_id, period=record.period, status=state, overall=record.overall,
        issued_at=utc_iso(record.issued_at), supersedes=record.supersedes, superseded_by=status.superseded_by,
        links=Links(self=base, verify=f"/d/{record.document_id}",
                    files={kind: f"{base}/files/{kind}" for kind in MEDIA_TYPES}))


_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing, invalid or revoked token"},
}


@router.get("/documents", response_model=DocumentList, responses=_AUTH_RESPONSES)
def list_documents(request: Request, who: CallerDep, portal: PortalDep
                   ) -> DocumentList:
    """The token's tenant's documents, newest period first, with their status in the signed log."""
    dlog = _log(portal)
    docs = [_summary(dlog, r) for r in dlog.for_tenant(who.token.tenant_id)]
    audit.record(portal, request, "api", "ok", link=who.token.public_id, tenant=who.token.tenant_id,
                 detail={"path": request.url.path, "documents": len(docs)})
    return DocumentList(tenant=who.token.tenant_id, documents=docs)


def _read_checked(portal: Portal, request: Request, who: _Caller, record: IssuedRecord, kind: str) -> bytes:
    """The file's bytes, once they match the signed record (409 otherwise, audited). An envelope
    has no digest of its own in the record: it must sign the recorded digest of its file."""
    base = kind.removesuffix(DSSE_SUFFIX)
    path = record.path(portal.loaded.output_dir, kind)
    problem = None
    try:
        data = path.read_bytes()
    except OSError:
        data, problem = b"", "missing"
    expected = record.files.get(base)
    if problem is None and kind == base and hashlib.sha256(data).hexdigest() != expected:
        problem = "digest_mismatch"
    if problem is None and kind != base and _enveloped_digest(data, f"{record.document_id}.{base}") != expected:
        problem = "envelope_mismatch"
    if problem is not None:
        audit.record(portal, request, "api", "conflict", link=who.token.public_id, tenant=who.token.tenant_id,
                     detail={"path": request.url.path[:200], "document_id": record.document_id, "error": problem})
        raise HTTPException(409, "the stored file does not match the signed record of this document; "
                                 "the provider has been notified through its audit trail")
    return data


def _enveloped_digest(envelope: bytes, name: str) -> str | None:
    import base64

    try:
        statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
        for subject in statement["subject"]:
            if subject.get("name") == name:
                digest = subject["digest"]["sha256"]
                return digest if isinstance(digest, str) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


@router.get("/documents/{document_id}", response_model=DocumentDetail,
            responses={**_AUTH_RESPONSES, 404: {"model": Problem}, 409: {"model": Problem}})
def get_document(document_id: str, request: Request, who: CallerDep,
                 portal: PortalDep) -> DocumentDetail:
    """One document: its status, file digests, and the verdict per control from the signed JSON."""
    dlog, record = _own(portal, request, who, document_id)
    data = _read_checked(portal, request, who, record, "json")
    att = json.loads(data)
    lang = str(att.get("tenant", {}).get("language", "en"))
    results = [ControlVerdict(control_id=r["control_id"], title=_text(r.get("title"), lang), duty=r.get("duty", ""),
                              verdict=r["verdict"], reason=_text(r.get("reason"), lang))
               for r in att.get("results", [])]
    status = dlog.status(record.document_id)
    r = status.revocation
    audit.record(portal, request, "api", "ok", link=who.token.public_id, tenant=who.token.tenant_id,
                 detail={"path": request.url.path, "document_id": record.document_id})
    return DocumentDetail(**_summary(dlog, record).model_dump(), files_sha256=dict(record.files), language=lang,
                          revoked=Revocation(at=utc_iso(r.revoked_at), by=r.revoked_by, reason=r.reason) if r else None,
                          results=results)


def _text(value: object, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


@router.get("/documents/{document_id}/files/{kind}", response_class=Response,
            responses={**_AUTH_RESPONSES, 404: {"model": Problem}, 409: {"model": Problem},
                       200: {"content": {t: {} for t in set(MEDIA_TYPES.values())},
                             "description": "The file exactly as issued"}})
def get_file(document_id: str, kind: KindParam, request: Request, who: CallerDep, portal: PortalDep) -> Response:
    """A document's file (PDF, HTML, JSON or an envelope), exactly as issued and signed."""
    _, record = _own(portal, request, who, document_id)
    if kind not in MEDIA_TYPES:  # checked against a fixed list: nothing from the URL reaches a path
        audit.record(portal, request, "api", "not_found", link=who.token.public_id, tenant=who.token.tenant_id,
                     detail={"path": request.url.path[:200], "document_id": record.document_id, "file": None})
        raise HTTPException(404, "no such file")
    data = _read_checked(portal, request, who, record, kind)
    audit.record(portal, request, "api", "ok", link=who.token.public_id, tenant=who.token.tenant_id,
                 detail={"path": request.url.path, "document_id": record.document_id, "file": kind})
    filename = f"{record.document_id}.{kind}"
    return Response(data, media_type=MEDIA_TYPES[kind],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
