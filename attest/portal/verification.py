"""The public verification page (no sign-in): the QR code's target ``/d/<document id>``, its JSON
twin, and verification of an uploaded document.

Public means anyone holding the QR code holds the document, so a page says only what the
document itself says (the tenant's legal name, period, issue date, overall verdict, the SHA-256
of its files) and its status in the provider's signed log: current, superseded by which
document, or revoked when, by whom and why. It never lists a tenant's other documents.

An upload is judged like `attest verify` (attest/verify.py, with the configuration's trust
anchors), then matched to the log:

* **authentic**: the signature (PDF) or envelope (HTML/JSON) is valid and trusted — or, for an
  HTML/JSON file sent without its envelope, nothing to check there — and the file's SHA-256 is
  the one the signed ``attest.document`` record holds (for a recipient-stamped PDF, the SHA-256 of
  the revision the provider signed);
* **tampered**: the signature is invalid, or the digest differs from the record's;
* **unknown**: a valid signature by an untrusted signer, or a document this log never issued.

Every answer is audited (action ``verify``), without any of the file's content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from attest.canonical import utc_iso
from attest.errors import BadInput
from attest.portal import audit, i18n, ratelimit
from attest.portal.context import Portal, get_portal
from attest.portal.library import DocumentLog, IssuedRecord, document_log, trust_anchors, valid_document_id
from attest.portal.pages import page
from attest.portal.upload import Upload, UploadRejected, private_directory, receive, sniff
from attest.signing import DSSE_SUFFIX
from evidence.log import LogIntegrityError

router = APIRouter()
PortalDep = Annotated[Portal, Depends(get_portal)]

Result = Literal["authentic", "tampered", "unknown"]
Kind = Literal["pdf", "html", "json"]
Status = Literal["current", "superseded", "revoked", "unknown"]
_ANY_ID = re.compile(rb"AT-[0-9A-HJKMNP-TV-Z]{20}")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


# --- what is said about a document ------------------------------------------------------------


class Revocation(BaseModel):
    at: str
    by: str
    reason: str


class PublicDocument(BaseModel):
    """What anyone may learn about a document id: only facts the document itself states, and its
    status in the provider's signed log."""

    document_id: str
    known: bool
    status: Status
    summary: str  # the status in plain words
    scope: Literal["tenant", "fleet"] | None = None
    tenant_name: str | None = None  # the legal name the document names (None for the provider-wide one)
    period: str | None = None
    issued_at: str | None = None
    overall: str | None = None
    superseded_by: str | None = None
    superseded_by_issued_at: str | None = None
    revoked: Revocation | None = None
    files_sha256: dict[str, str] = {}  # pdf | html | json -> SHA-256 hex, as the signed record holds


def _tenant_name(portal: Portal, record: IssuedRecord) -> str | None:
    if record.fleet:
        return None
    try:
        return portal.loaded.tenant(record.tenant).legal_name
    except BadInput:  # a tenant no longer configured: its documents stay verifiable, unnamed
        return None


def describe(portal: Portal, dlog: DocumentLog, document_id: str) -> PublicDocument:
    status = dlog.status(document_id)
    record = dlog.record(document_id)
    if not status.known or record is None:
        return PublicDocument(document_id=document_id, known=False, status="unknown",
                              summary="unknown to this provider's log: it has no signed record of issuing it")
    revoked = None
    if status.revocation is not None:
        r = status.revocation
        revoked = Revocation(at=utc_iso(r.revoked_at), by=r.revoked_by, reason=r.reason)
        summary = f"revoked on {r.revoked_at:%Y-%m-%d %H:%M} UTC by {r.revoked_by}: {r.reason}"
    elif status.superseded_by and status.superseded_by_issued_at:
        summary = (f"superseded by {status.superseded_by} (issued {status.superseded_by_issued_at:%Y-%m-%d %H:%M}"
                   " UTC)")
    else:
        summary = "current: the newest document for its period"
    return PublicDocument(
        document_id=document_id, known=True, status=status.state, summary=summary,
        scope="fleet" if record.fleet else "tenant", tenant_name=_tenant_name(portal, record),
        period=record.period, issued_at=utc_iso(record.issued_at), overall=record.overall,
        superseded_by=status.superseded_by,
        superseded_by_issued_at=utc_iso(status.superseded_by_issued_at) if status.superseded_by_issued_at else None,
        revoked=revoked, files_sha256=dict(record.files))


def _unknown(document_id: str) -> PublicDocument:
    return PublicDocument(document_id=document_id, known=False, status="unknown",
                          summary="unknown to this provider's log: it has no signed record of issuing it")


class LogUnavailable(Exception):
    """The log does not match its checkpoint: no status can be given (answer 503)."""


def _dlog(portal: Portal) -> DocumentLog:
    try:
        return document_log(portal)
    except LogIntegrityError as e:
        raise LogUnavailable(str(e)) from e


def _lookup(portal: Portal, request: Request, document_id: str) -> tuple[int, PublicDocument]:
    """(HTTP status, answer) for a document id; audited. A malformed id is refused before any
    lookup and answered exactly like an unknown one."""
    if not valid_document_id(document_id):
        audit.record(portal, request, "verify", "not_found",
                     detail={"document_id": None, "malformed": True, "result": None, "status": "unknown"})
        return 404, _unknown(document_id[:32])
    doc = describe(portal, _dlog(portal), document_id)
    record = _dlog(portal).record(document_id)
    audit.record(portal, request, "verify", "ok" if doc.known else "not_found",
                 tenant=record.tenant if record else None,
                 detail={"document_id": document_id, "result": None, "status": doc.status})
    return (200 if doc.known else 404), doc


@router.get("/d/{document_id}.json", include_in_schema=False)
def document_json_alias(document_id: str, request: Request, portal: PortalDep) -> Response:
    return verify_document_json(document_id, request, portal)


@router.get("/api/v1/verify/{document_id}", response_model=PublicDocument, tags=["verification"],
            responses={404: {"model": PublicDocument, "description": "Unknown to this provider's log"}})
def verify_document_json(document_id: str, request: Request, portal: PortalDep) -> Response:
    """Public, no token: whether this provider's signed log issued the document, and its status
    (current, superseded, revoked)."""
    try:
        code, doc = _lookup(portal, request, document_id)
    except LogUnavailable:
        return JSONResponse({"detail": "the evidence log cannot be read right now"}, status_code=503)
    return JSONResponse(doc.model_dump(mode="json"), status_code=code)


@router.get("/d/{document_id}", response_class=HTMLResponse, include_in_schema=False)
def document_page(document_id: str, request: Request, portal: PortalDep) -> Response:
    try:
        code, doc = _lookup(portal, request, document_id)
    except LogUnavailable:
        return page(request, "document_status.html.j2", status=503, doc=None, unavailable=True)
    return page(request, "document_status.html.j2", status=code, doc=doc, unavailable=False)


# --- judging an upload --------------------------------------------------------------------------


class UploadVerdict(BaseModel):
    result: Result
    kind: Kind
    sha256: str
    signature: str  # what the signature check found, in plain words
    signer: str | None = None
    reasons: list[str] = []
    matched: str | None = None  # how the file matched the signed record, when it did
    added_after_signing: list[str] = []  # annotations added to a PDF after the provider signed it
    document: PublicDocument | None = None


@dataclass
class _Judged:
    result: Result
    signature: str
    signer: str | None = None
    reasons: list[str] = field(default_factory=list)
    document_id: str | None = None
    added: list[str] = field(default_factory=list)


def _scrub(message: str, directory: Path) -> str:
    """A verifier's message without the temporary paths it names."""
    return message.replace(str(directory) + "/", "").replace(str(directory), "")


def _envelope_subject(envelope: Path, kind: str) -> str:
    """The name the envelope's statement gives the HTML/JSON file, so verify_dsse finds it under
    the name it signed; "upload.<kind>" if there is none usable (the verifier then says why)."""
    try:
        raw = json.loads(envelope.read_bytes())
        statement = json.loads(base64.b64decode(raw["payload"]))
        for subject in statement["subject"]:
            name = subject.get("name")
            if isinstance(name, str) and name.endswith(f".{kind}") and _SAFE_NAME.match(name):
                return name
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return f"upload.{kind}"


def _is_envelope(data: bytes) -> bool:
    try:
        parsed = json.loads(data)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "payloadType" in parsed and "signatures" in parsed


def _id_in_content(kind: str, data: bytes) -> str | None:
    """The document id a JSON or HTML file claims (used when no signature names it)."""
    if kind == "json":
        try:
            claimed = json.loads(data).get("document_id")
        except (ValueError, AttributeError):
            return None
        return claimed if isinstance(claimed, str) and valid_document_id(claimed) else None
    found = _ANY_ID.search(data)
    return found.group().decode() if found else None


def _judge_pdf(portal: Portal, path: Path, data: bytes) -> _Judged:
    from attest.verify import verify_pdf

    report = verify_pdf(path, trust_anchors(portal), tsa_trust_anchors=portal.loaded.tsa_ca_certificates())
    added = [str(a.get("contents") or f"({a.get('subtype')} annotation)")
             for a in report.details.get("annotations_added") or [] if isinstance(a, dict)]
    doc_id = report.details.get("document_id")
    return _Judged("authentic" if report.ok else "tampered" if not report.valid else "unknown",
                   _signature_words(report.valid, report.trusted), report.signer,
                   [_scrub(r, path.parent) for r in report.reasons],
                   doc_id if isinstance(doc_id, str) else None, added)


def _judge_dsse(portal: Portal, subject: Path, kind: str) -> _Judged:
    from attest.verify import verify_dsse

    report = verify_dsse(subject, trust_anchors(portal))
    doc_id = report.details.get("document_id")
    return _Judged("authentic" if report.ok else "tampered" if not report.valid else "unknown",
                   _signature_words(report.valid, report.trusted), report.signer,
                   [_scrub(r, subject.parent) for r in report.reasons], doc_id if isinstance(doc_id, str) else None)


# The API's words for what the signature check found and how the file matched its record (the
# JSON keeps them as they were); the page says the same in its language, by these codes
# (`verify.signatures.<code>`, `verify.matched.<code>` in the portal's catalog).
SIGNATURE_WORDS = {
    "invalid": "invalid: the file was changed after signing, or the signature is broken",
    "trusted": "valid and trusted",
    "untrusted": "valid, but the signer is not one this provider trusts",
    "none": "none sent: the file is checked against the digest in the signed log",
}
MATCHED_WORDS = {
    "exact": "the file is exactly the one issued",
    "stamped": "the revision the provider signed is exactly the one issued; annotations were added after signing",
}


def _code(words: dict[str, str], said: str | None) -> str | None:
    return next((code for code, text in words.items() if text == said), None)


def _signature_words(valid: bool, trusted: bool) -> str:
    if not valid:
        return SIGNATURE_WORDS["invalid"]
    return SIGNATURE_WORDS["trusted" if trusted else "untrusted"]


def _pdf_matches(data: bytes, recorded: str | None) -> str | None:
    if recorded is None:
        return None
    if hashlib.sha256(data).hexdigest() == recorded:
        return MATCHED_WORDS["exact"]
    from attest.portal.stamp import original_revision  # the recipient-stamp helper (shares)

    try:
        original = original_revision(data)
    except ValueError:
        return None
    if original is not None and hashlib.sha256(original).hexdigest() == recorded:
        return MATCHED_WORDS["stamped"]
    return None


def judge(portal: Portal, upload: Upload) -> UploadVerdict:
    """The verdict on an upload (blocking work: run in a thread). UploadRejected for content that
    is not a document Attest issues or cannot be read at all."""
    from attest.verify import UnusableInput

    file_path = upload.parts["file"]
    kind = sniff(file_path)
    if kind is None:
        raise UploadRejected(400, "unsupported", "the file is not a PDF, HTML or JSON document")
    data = file_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if kind == "json" and _is_envelope(data):
        raise UploadRejected(400, "envelope_only", "this is a signature envelope: upload the HTML or JSON file it "
                                                   "signs as the file, and the envelope beside it")
    envelope = upload.parts.get("envelope")
    if envelope is not None and upload.sizes.get("envelope"):
        if kind == "pdf":
            raise UploadRejected(400, "bad_field", "a PDF carries its own signature: upload it without an envelope",
                                 key="pdf_with_envelope")
    else:
        envelope = None
    dlog = _dlog(portal)
    try:
        if kind == "pdf":
            judged = _judge_pdf(portal, file_path, data)
        elif envelope is not None:
            name = _envelope_subject(envelope, kind)
            subject = file_path.with_name(name)
            file_path.rename(subject)
            envelope.rename(subject.with_name(name + DSSE_SUFFIX))
            judged = _judge_dsse(portal, subject, kind)
        else:
            judged = _Judged("authentic", SIGNATURE_WORDS["none"])
    except UnusableInput as e:
        detail = _scrub(str(e), upload.directory)
        raise UploadRejected(400, "unusable", detail, values={"detail": detail}) from None
    # Find the record: by the id the signed content names, else by the digest, else by the claim.
    doc_id = judged.document_id or (dlog.by_digest.get(digest, (None, ""))[0]) or _id_in_content(kind, data)
    record = dlog.record(doc_id) if doc_id else None
    matched = None
    if record is not None:
        recorded = record.files.get(kind)
        matched = (_pdf_matches(data, recorded) if kind == "pdf"
                   else MATCHED_WORDS["exact"] if recorded == digest else None)
    result = judged.result
    reasons = list(judged.reasons)
    if result == "authentic":
        if record is None:
            result = "unknown"
            reasons.append("this provider's signed log has no record of issuing "
                           + (f"document {doc_id}" if doc_id else "this document"))
        elif matched is None:
            result = "tampered"
            reasons.append(f"its SHA-256 differs from the digest the signed log recorded for {record.document_id}")
    return UploadVerdict(result=result, kind=cast(Kind, kind), sha256=digest, signature=judged.signature,
                         signer=judged.signer,
                         reasons=reasons, matched=matched, added_after_signing=judged.added,
                         document=describe(portal, dlog, record.document_id) if record else None)


async def _verify_upload(portal: Portal, request: Request) -> UploadVerdict:
    with private_directory() as directory:
        upload = await receive(request, directory, portal.settings.max_upload_mb)
        return await run_in_threadpool(judge, portal, upload)


def _audit_verdict(portal: Portal, request: Request, verdict: UploadVerdict) -> None:
    doc = verdict.document
    tenant = None
    if doc is not None:
        record = _dlog(portal).record(doc.document_id)
        tenant = record.tenant if record else None
    audit.record(portal, request, "verify", "ok", tenant=tenant,
                 detail={"document_id": doc.document_id if doc else None, "result": verdict.result,
                         "status": doc.status if doc else "unknown", "kind": verdict.kind})


def _audit_rejection(portal: Portal, request: Request, rejected: UploadRejected) -> None:
    outcome = "too_large" if rejected.status == 413 else "bad_request"
    audit.record(portal, request, "verify", outcome,
                 detail={"document_id": None, "result": None, "status": None, "error": rejected.code})


def _rate_limited(portal: Portal, request: Request) -> int:
    """0 when this upload may go ahead, else the seconds the client must wait: uploads per client
    address are limited (`portal.verify_uploads_per_minute`), each costing a signature check.
    A refusal is audited; the body is never read."""
    wait = ratelimit.take(portal, "verify", portal.client_address(request), portal.settings.verify_uploads_per_minute)
    if wait:
        audit.record(portal, request, "verify", "rate_limited",
                     detail={"document_id": None, "result": None, "status": None, "error": "rate_limited"})
    return wait


def _verify_page(request: Request, portal: Portal, status: int = 200, verdict: UploadVerdict | None = None,
                 error: str | None = None) -> Response:
    return page(request, "verify.html.j2", status=status, verdict=verdict, error=error,
                max_upload_mb=portal.settings.max_upload_mb,
                signature_code=_code(SIGNATURE_WORDS, verdict.signature) if verdict else None,
                matched_code=_code(MATCHED_WORDS, verdict.matched) if verdict else None)


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_form(request: Request, portal: PortalDep) -> Response:
    return _verify_page(request, portal)


@router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_upload_page(request: Request, portal: PortalDep) -> Response:
    lang = i18n.request_language(request)
    wait = await run_in_threadpool(_rate_limited, portal, request)
    if wait:
        response = _verify_page(request, portal, 429, error=i18n.text(lang, "verify.rate_limited", seconds=wait))
        response.headers.update({"Retry-After": str(wait), "Connection": "close"})  # the body is not wanted
        return response
    try:
        verdict = await _verify_upload(portal, request)
    except UploadRejected as e:
        await run_in_threadpool(_audit_rejection, portal, request, e)
        response = _verify_page(request, portal, e.status, error=i18n.text(lang, f"verify.errors.{e.key}", **e.values))
        response.headers["Connection"] = "close"  # the unread rest of the body is not wanted
        return response
    except LogUnavailable:
        return _verify_page(request, portal, 503, error=i18n.text(lang, "verify.unavailable"))
    await run_in_threadpool(_audit_verdict, portal, request, verdict)
    return _verify_page(request, portal, verdict=verdict)


@router.post("/api/v1/verify", response_model=UploadVerdict, tags=["verification"],
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary", "description": "a PDF, HTML or JSON document"},
                     "envelope": {"type": "string", "format": "binary",
                                  "description": "the .dsse.json envelope of an HTML or JSON document"}}}}}}},
             responses={400: {"description": "Not a document, malformed or unreadable"},
                        413: {"description": "Larger than the portal's upload limit"},
                        429: {"description": "Too many uploads from this address in the last minute (Retry-After)"}})
async def verify_upload_json(request: Request, portal: PortalDep) -> Response:
    """Public, no token: verify an uploaded document (authentic, tampered or unknown) and give its
    status (current, superseded, revoked)."""
    wait = await run_in_threadpool(_rate_limited, portal, request)
    if wait:
        return JSONResponse({"detail": "too many uploads from this address: retry later", "error": "rate_limited"},
                            status_code=429, headers={"Retry-After": str(wait), "Connection": "close"})
    try:
        verdict = await _verify_upload(portal, request)
    except UploadRejected as e:
        await run_in_threadpool(_audit_rejection, portal, request, e)
        return JSONResponse({"detail": e.message, "error": e.code}, status_code=e.status,
                            headers={"Connection": "close"})
    except LogUnavailable:
        return JSONResponse({"detail": "the evidence log cannot be read right now"}, status_code=503)
    await run_in_threadpool(_audit_verdict, portal, request, verdict)
    return JSONResponse(verdict.model_dump(mode="json"))
