"""The provider's pages (minimal in this slice): every tenant with its documents' status (admin
and sales), the accounts, and revoking a document (admin only; a signed `attest.revocation`
record, exactly like `attest revoke`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from attest.canonical import parse_utc
from attest.errors import BadInput
from attest.portal import audit, library
from attest.portal.auth import require_csrf, require_role
from attest.portal.context import get_portal
from attest.portal.models import Account
from attest.portal.pages import page
from attest.portal.sessions import SignedIn
from evidence.log import LogIntegrityError

router = APIRouter(include_in_schema=False)

Staff = Annotated[SignedIn, Depends(require_role("admin", "sales"))]
Admin = Annotated[SignedIn, Depends(require_role("admin"))]
REVOKE_WAIT_S = 30.0  # another run (a timer's `attest run`) may hold the log for a while


@router.get("/admin")
def overview(request: Request, signed: Staff) -> Response:
    portal = get_portal(request)
    try:
        dlog = library.document_log(portal)
    except LogIntegrityError:
        raise HTTPException(503, "The evidence log does not verify: run `attest evidence verify`.") from None
    tenants: list[dict[str, Any]] = []
    for tenant in portal.loaded.model.tenants:
        docs = [library.status_view(d.status) for d in library.tenant_documents(dlog, tenant.id)]
        tenants.append({"id": tenant.id, "legal_name": tenant.legal_name, "documents": docs})
    return page(request, "admin.html.j2", tenants=tenants, error=None, notice=None,
                provider_name=portal.loaded.model.provider.name)


@router.get("/admin/users")
def users(request: Request, signed: Admin) -> Response:
    portal = get_portal(request)
    now = portal.now()
    with portal.db() as s:
        rows = [{"username": a.username, "role": a.role, "tenant": a.tenant_id or "", "disabled": a.disabled,
                 "locked": bool(a.locked_until and now < parse_utc(a.locked_until)),
                 "password_set": a.password_hash is not None}
                for a in s.scalars(select(Account).order_by(Account.username))]
    return page(request, "users.html.j2", users=rows, provider_name=portal.loaded.model.provider.name)


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
        raise HTTPException(400, str(exc)) from None
    audit.record(portal, request, "revoke", "ok", account=signed.username, tenant=done.before.tenant,
                 detail={**detail, "record": done.record.idx, "reason": done.record.payload.get("reason")})
    return RedirectResponse("/admin", 303)
