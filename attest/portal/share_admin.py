"""The provider's share-link pages (sales and admin): list, create, revoke. The new link is shown
once, on the page that created it; afterwards only its public id exists anywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from attest.canonical import utc_iso
from attest.errors import BadInput
from attest.portal import audit
from attest.portal.auth import require_csrf, require_role
from attest.portal.context import Portal, get_portal
from attest.portal.pages import page
from attest.portal.sessions import SignedIn
from attest.portal.shares import SCOPES, CreatedLink, create_link, list_links, revoke_link

router: APIRouter = APIRouter(include_in_schema=False)

Staff = Annotated[SignedIn, Depends(require_role("admin", "sales"))]
FormText = Annotated[str, Form()]


def _page(request: Request, portal: Portal, status: int = 200, error: str | None = None,
          made: CreatedLink | None = None) -> Response:
    base = portal.loaded.model.provider.verification_url.rstrip("/")
    return page(request, "shares_admin.html.j2", status=status, links=list_links(portal), now=utc_iso(portal.now()),
                scopes=SCOPES, max_days=portal.settings.share_link_max_days, error=error,
                made=made, made_url=(base + made.path) if made else None,
                provider_name=portal.loaded.model.provider.name)


@router.get("/admin/shares")
def shares_page(request: Request, signed: Staff) -> Response:
    return _page(request, get_portal(request))


@router.post("/admin/shares")
def create(request: Request, signed: Staff, document_id: FormText = "", scope: FormText = "pdf",
           recipient: FormText = "", days: FormText = "30", nda_text: FormText = "",
           csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    try:
        if not days.strip().isdigit():
            raise BadInput("expiry: give a whole number of days")
        made = create_link(portal, document_id=document_id.strip(), scope=scope, recipient=recipient,
                           days=int(days), created_by=signed.username, nda_text=nda_text or None, request=request)
    except BadInput as exc:
        audit.record(portal, request, "share_create", "bad_request", account=signed.username,
                     detail={"document": document_id[:40], "scope": scope[:20]})
        return _page(request, portal, 400, error=str(exc))
    return _page(request, portal, made=made)


@router.post("/admin/shares/{public_id}/revoke")
def revoke(request: Request, signed: Staff, public_id: str, csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    try:
        revoke_link(portal, public_id[:32], signed.username, request=request)
    except BadInput as exc:
        return _page(request, portal, 400, error=str(exc))
    return RedirectResponse("/admin/shares", 303)
