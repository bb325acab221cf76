"""The provider's overview: every tenant with its documents' status (admin and sales), and
revoking a document (admin only; a signed `attest.revocation` record, exactly like `attest
revoke`). Issuing is attest/portal/admin_issue.py, the accounts attest/portal/admin_users.py."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from attest.errors import BadInput
from attest.portal import audit, library
from attest.portal.auth import require_csrf, require_role
from attest.portal.context import Portal, get_portal
from attest.portal.pages import page
from attest.portal.sessions import SignedIn
from evidence.log import LogIntegrityError

router = APIRouter(include_in_schema=False)

Staff = Annotated[SignedIn, Depends(require_role("admin", "sales"))]
Admin = Annotated[SignedIn, Depends(require_role("admin"))]
REVOKE_WAIT_S = 30.0  # another run (a timer's `attest run`) may hold the log for a while
PERIOD_CHOICES = 13  # the issue form offers this month and the twelve before it


def overview_page(request: Request, portal: Portal, status: int = 200, error: str | None = None,
                  notice: str | None = None, form: dict[str, str] | None = None) -> Response:
    """The provider's overview; also re-shown, with *error* and the submitted *form*, when an
    action on it (issue, revoke) is refused."""
    try:
        dlog = library.document_log(portal)
    except LogIntegrityError:
        raise HTTPException(503, "The evidence log does not verify: run `attest evidence verify`.") from None
    tenants: list[dict[str, Any]] = []
    for tenant in portal.loaded.model.tenants:
        docs = [library.status_view(d.status) for d in library.tenant_documents(dlog, tenant.id)]
        tenants.append({"id": tenant.id, "legal_name": tenant.legal_name, "documents": docs})
    return page(request, "admin.html.j2", status=status, tenants=tenants, error=error, notice=notice,
                periods=recent_periods(portal), form=form or {}, provider_name=portal.loaded.model.provider.name)


def recent_periods(portal: Portal, count: int = PERIOD_CHOICES) -> list[str]:
    """The current month and the ones before it, newest first (the issue form's choices)."""
    local = portal.now().astimezone(ZoneInfo(portal.loaded.model.time_zone))
    months = [(local.year * 12 + local.month - 1) - back for back in range(count)]
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months]


def _issued_notice(portal: Portal, issued: str, kept: str) -> str | None:
    """The notice after an issue (its redirect names the document): built from the signed log,
    never from the query text, so a crafted link cannot make the page claim anything."""
    document_id = issued or kept
    if not library.valid_document_id(document_id):
        return None
    try:
        record = library.document_log(portal).record(document_id)
    except LogIntegrityError:
        return None  # the page itself says so (503)
    if record is None:
        return None
    if issued:
        return f"Issued {record.document_id} for {record.tenant}, {record.period} ({record.overall or 'no verdict'})."
    return (f"Nothing the document would show has changed: {record.document_id} stays the current document for "
            f"{record.tenant}, {record.period}.")


@router.get("/admin")
def overview(request: Request, signed: Staff, issued: str = "", kept: str = "") -> Response:
    portal = get_portal(request)
    notice = _issued_notice(portal, issued[:40], kept[:40]) if signed.role == "admin" else None
    return overview_page(request, portal, notice=notice)


@router.post("/admin/documents/{document_id}/revoke")
def revoke(request: Request, signed: Admin, document_id: str, reason: Annotated[str, Form()] = "",
           csrf_token: Annotated[str, Form()] = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    from attest.status import revoke_document
    from attest.verify import load_trust_anchors

    detail: dict[str, Any] = {"document_id": document_id[:80]}
    try:
        anchors = load_trust_anchors([portal.loaded.resolve(p) for p in portal.loaded.model.provider.trust_anchors])
        done = revoke_document(portal.log, portal.signer, document_id, reason, signed.username,
                               trust_anchors=anchors, wait_s=REVOKE_WAIT_S, now=portal.now())
    except BadInput as exc:  # malformed or unknown id, a reason that says nothing, already revoked
        audit.record(portal, request, "revoke", "bad_request", account=signed.username, detail=detail)
        return overview_page(request, portal, 400, error=f"Not revoked: {exc}")
    audit.record(portal, request, "revoke", "ok", account=signed.username, tenant=done.before.tenant,
                 detail={**detail, "record": done.record.idx, "reason": done.record.payload.get("reason")})
    return RedirectResponse("/admin", 303)
