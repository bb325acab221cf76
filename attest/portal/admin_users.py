"""The admin's accounts page: list the accounts, add one, disable and enable one, and issue a
one-time password-set link — the same operations as `attest users`, through the same code
(attest/portal/accounts.py).

No password is set here: adding an account, like asking for a link, shows a one-time link once,
on the answer to that form, for the admin to hand over. It is built on
`provider.verification_url` (the portal's public address, as the command line does), never on
the request's Host header, which a client chooses. Every form is a CSRF-checked POST; every
refusal is a 400 re-showing the page with what was wrong, and is audited, with nothing written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from attest.errors import BadInput
from attest.portal import accounts, audit
from attest.portal.admin import Admin
from attest.portal.auth import require_csrf
from attest.portal.context import Portal, get_portal
from attest.portal.models import ROLES
from attest.portal.pages import page
from attest.portal.resets import reset_url
from attest.portal.sessions import SignedIn

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]


def _page(request: Request, portal: Portal, status: int = 200, *, error: str | None = None,
          notice: str | None = None, link: tuple[str, str] | None = None,
          form: dict[str, str] | None = None) -> Response:
    """The accounts page; *link* is (username, one-time URL), shown on this answer only."""
    made = None
    if link is not None:
        made = {"username": link[0], "url": reset_url(portal.loaded.model.provider.verification_url, link[1]),
                "hours": portal.settings.reset_link_hours}
    return page(request, "users.html.j2", status=status, users=accounts.list_accounts(portal), roles=ROLES,
                tenants=accounts.tenant_ids(portal), error=error, notice=notice, made=made, form=form or {},
                provider_name=portal.loaded.model.provider.name)


def _refused(request: Request, portal: Portal, signed: SignedIn, action: str, username: str, exc: BadInput,
             form: dict[str, str] | None = None) -> Response:
    audit.record(portal, request, action, "bad_request", account=signed.username,
                 detail={"username": username[:64], **({"role": form["role"]} if form else {})})
    return _page(request, portal, 400, error=str(exc), form=form)


@router.get("/admin/users")
def users(request: Request, signed: Admin) -> Response:
    return _page(request, get_portal(request))


@router.post("/admin/users")
def add(request: Request, signed: Admin, username: FormText = "", role: FormText = "", tenant: FormText = "",
        csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    username = username.strip()
    form = {"username": username[:64], "role": role[:16], "tenant": tenant[:64]}
    try:
        # An empty tenant field is "no tenant": the form always sends the field.
        token = accounts.add(portal, username, role, tenant.strip() or None, signed.username, request=request)
    except BadInput as exc:
        return _refused(request, portal, signed, "user_add", username, exc, form)
    return _page(request, portal, notice=f"Added {username} ({role}).", link=(username, token))


@router.post("/admin/users/{username}/disable")
def disable(request: Request, signed: Admin, username: str, csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    try:
        if username == signed.username:  # would lock the provider out of its own page in one click
            raise BadInput("you cannot disable your own account; another admin can")
        ended = accounts.disable(portal, username, signed.username, request=request)
    except BadInput as exc:
        return _refused(request, portal, signed, "user_disable", username, exc)
    return _page(request, portal, notice=f"Disabled {username}; {ended} session(s) ended.")


@router.post("/admin/users/{username}/enable")
def enable(request: Request, signed: Admin, username: str, csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    try:
        accounts.enable(portal, username, signed.username, request=request)
    except BadInput as exc:
        return _refused(request, portal, signed, "user_enable", username, exc)
    return _page(request, portal, notice=f"Enabled {username}. Issue a password link if its user needs one.")


@router.post("/admin/users/{username}/reset-link")
def reset_link(request: Request, signed: Admin, username: str, csrf_token: FormText = "") -> Response:
    require_csrf(request, signed, csrf_token)
    portal = get_portal(request)
    try:
        token = accounts.reset_link(portal, username, signed.username, request=request)
    except BadInput as exc:
        return _refused(request, portal, signed, "reset_link", username, exc)
    return _page(request, portal, notice=f"New password link for {username}; earlier unused links no longer work.",
                 link=(username, token))
