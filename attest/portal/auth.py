"""Sign-in, sign-out and password-set pages, and the dependencies every other page uses:
`current_account` (who is signed in, if anyone), `require_role` (who may see a page) and
`require_csrf` (every POST form).

Roles: ``admin`` (the provider: accounts, issuing and revoking, the audit trail), ``sales``
(share links), ``tenant`` (one tenant's own documents, nothing else).

Sign-in answers one message for every failure — unknown user, wrong password, disabled or
locked account — so the page never tells whether an account exists; an unknown user costs one
argon2 verification like a known one. The login form is protected against CSRF too (login CSRF
would sign a victim into the attacker's account): GET /login sets a short-lived random cookie
that the form must repeat (double submit), besides the Origin check. That cookie is never
promoted to a session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from attest.canonical import utc_iso
from attest.portal import i18n, passwords, ratelimit, resets, sessions
from attest.portal.context import Portal, get_portal
from attest.portal.models import Account
from attest.portal.pages import page
from attest.portal.sessions import COOKIE, SignedIn

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "attest_login"  # the login form's double-submit CSRF token (not a session)
LOGIN_COOKIE_S = 3600
GENERIC_FAILURE = "Wrong username or password (or the account is temporarily locked after too many attempts)."
# The login page's messages: keys of the portal's catalog (the page is in the visitor's language).
FAILURE_KEY, EXPIRED_KEY, LIMITED_KEY = "login.failure", "login.expired", "login.rate_limited"
MAX_USERNAME = 64

FormText = Annotated[str, Form()]


def _audit(portal: Portal, request: Request, action: str, outcome: str, **kwargs: Any) -> None:
    # Imported here: attest.portal.audit imports its admin page, which depends on this module.
    from attest.portal import audit

    audit.record(portal, request, action, outcome, **kwargs)


# --- dependencies -------------------------------------------------------------------------------


async def current_account(request: Request) -> SignedIn | None:
    """FastAPI dependency: the signed-in account (or None), also set on request.state.account,
    with its CSRF token on request.state.csrf_token (pages.page passes both to templates).

    A coroutine, not a sync function: FastAPI runs sync dependencies in its threadpool, a thread
    hand-off per request. The session read is one indexed row on the pooled connection (tens of
    microseconds), done on the event loop; the rare write it calls for (ending a session, noting
    its use once a minute) may wait on the database's write lock, so it goes to a thread."""
    portal = get_portal(request)
    token = request.cookies.get(COOKIE)
    read = sessions.read_session(portal, token) if token else sessions.SessionRead(None)
    if read.write:
        await run_in_threadpool(sessions.write_session, portal, read)
    signed = read.signed_in
    request.state.account = signed
    request.state.csrf_token = signed.csrf_token if signed else ""
    return signed


def require_role(*roles: str) -> Callable[[Request], Awaitable[SignedIn]]:
    """A dependency: the signed-in account when its role is one of *roles*; otherwise a redirect
    to the sign-in page (nobody signed in) or 403 (audited)."""

    async def dependency(request: Request) -> SignedIn:
        signed = await current_account(request)
        if signed is None:
            raise HTTPException(303, headers={"Location": "/login"})
        if signed.role not in roles:
            from attest.portal import audit  # see _audit

            await audit.record_async(get_portal(request), request, "access", "denied", account=signed.username,
                                     tenant=signed.tenant_id,
                                     detail={"path": request.url.path[:200], "role": signed.role})
            raise HTTPException(403, "Your account may not see this page.")
        return signed

    return dependency


def require_csrf(request: Request, signed: SignedIn, given: str) -> None:
    """Refuse (403, audited) a form whose CSRF token is not the session's, or that comes from
    another site."""
    if sessions.same_site_request(request) and sessions.same_secret(given, signed.csrf_token):
        return
    _audit(get_portal(request), request, "csrf", "denied", account=signed.username, tenant=signed.tenant_id,
                 detail={"path": request.url.path[:200]})
    raise HTTPException(403, "This form has expired or did not come from this site: reload the page and try again.")


Account_ = Annotated[SignedIn | None, Depends(current_account)]


# --- pages --------------------------------------------------------------------------------------


@router.get("/")
def home(signed: Account_) -> RedirectResponse:
    if signed is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/documents" if signed.role == "tenant" else "/admin", 303)


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    """The sign-in form; *error* is a catalog key."""
    token = sessions.new_token()
    request.state.csrf_token = token  # the form repeats the login cookie (double submit)
    message = i18n.text(i18n.request_language(request), error) if error else None
    response = page(request, "login.html.j2", status=status, error=message)
    sessions.set_cookie(response, LOGIN_COOKIE, token, LOGIN_COOKIE_S, path="/login")
    return response


@router.get("/login")
def login_form(request: Request, signed: Account_) -> Response:
    if signed is not None:
        return RedirectResponse("/", 303)
    return _login_page(request)


@router.post("/login")
def login(request: Request, username: FormText = "", password: FormText = "", csrf_token: FormText = "") -> Response:
    portal = get_portal(request)
    client = portal.client_address(request)
    request.state.account = None
    if not (sessions.same_site_request(request)
            and sessions.same_secret(csrf_token, request.cookies.get(LOGIN_COOKIE, ""))):
        _audit(portal, request, "csrf", "denied", detail={"path": "/login"})
        return _login_page(request, EXPIRED_KEY, 403)
    username = username.strip()[:MAX_USERNAME]
    with portal.db() as s:
        limited = ratelimit.client_limited(portal, s, client)
    if limited:
        _audit(portal, request, "login", "rate_limited")
        return _login_page(request, LIMITED_KEY, 429)
    token = _authenticate(portal, request, username, password, client)
    if token is None:
        return _login_page(request, FAILURE_KEY, 401)
    # A fresh session id, whatever cookie came in: a planted pre-login cookie is discarded.
    sessions.end_session(portal, request.cookies.get(COOKIE))
    response = RedirectResponse("/", 303)
    sessions.set_cookie(response, COOKIE, token, int(portal.settings.session_hours * 3600))
    sessions.clear_cookie(response, LOGIN_COOKIE, path="/login")
    return response


def _authenticate(portal: Portal, request: Request, username: str, password: str, client: str) -> str | None:
    """Check the password; on success a new session's token, else None. Every outcome is audited
    (never the password; an unknown username is not recorded either: people type passwords
    into the username field). The argon2 work runs outside any transaction."""
    with portal.db() as s:
        account = s.scalar(select(Account).where(Account.username == username)) if username else None
        known = None if account is None else (account.id, account.password_hash)
    now = portal.now()
    matches = passwords.verify_password(known[1] if known else None, password)
    token: str | None = None
    who = tenant = None
    with sessions.write_tx(portal) as s:
        account = s.get(Account, known[0]) if known else None
        if account is None:
            outcome = "denied"
        else:
            who, tenant = account.username, account.tenant_id
            if ratelimit.locked(account, now):
                outcome = "locked"  # the right password is refused too
            elif account.disabled:
                outcome = "disabled"
            elif not matches or account.password_hash != known[1]:  # type: ignore[index]
                outcome = "locked" if ratelimit.note_failure(portal, account) else "denied"
            else:
                ratelimit.note_success(account)
                if account.password_hash and passwords.needs_rehash(account.password_hash):
                    account.password_hash = passwords.hash_password(password)
                token = sessions.start_session(portal, s, account, client)
                outcome = "ok"
        ratelimit.note_attempt(portal, s, who or "", client, ok=outcome == "ok")
    _audit(portal, request, "login", outcome, account=who, tenant=tenant)
    return token


@router.post("/logout")
def logout(request: Request, signed: Account_, csrf_token: FormText = "") -> Response:
    portal = get_portal(request)
    response = RedirectResponse("/login", 303)
    if signed is None:
        sessions.clear_cookie(response, COOKIE)
        return response
    require_csrf(request, signed, csrf_token)
    sessions.end_session(portal, request.cookies.get(COOKIE))
    _audit(portal, request, "logout", "ok", account=signed.username, tenant=signed.tenant_id)
    sessions.clear_cookie(response, COOKIE)
    return response


# --- password set by a one-time link --------------------------------------------------------------


MISMATCH = "the two passwords differ"


def _problem_text(lang: str, problem: str) -> str:
    """A password problem in the page's language. passwords.policy_problem answers English
    sentences (the CLI shows them too); they are recognised here by their fixed words, and one
    not recognised is shown as it is rather than hidden."""
    for words, key in (("at least", "too_short"), ("at most", "too_long"), ("only spaces", "only_spaces"),
                       ("contain the username", "contains_username"), (MISMATCH, "mismatch")):
        if words in problem:
            return i18n.text(lang, f"reset.problems.{key}", min=passwords.MIN_LENGTH, max=passwords.MAX_LENGTH)
    return problem[:1].upper() + problem[1:] + "."


def _reset_proof(token: str) -> str:
    # The form's CSRF field: derived from the link's token, which only its holder knows.
    return hashlib.sha256(b"attest-reset-form\x00" + token.encode()).hexdigest()


def _invalid_link(portal: Portal, request: Request) -> Response:
    _audit(portal, request, "password_reset", "not_found")
    return page(request, "reset.html.j2", status=404, invalid=True, error=None, username="")


@router.get("/reset/{token}")
def reset_form(request: Request, token: str) -> Response:
    portal = get_portal(request)
    request.state.account = None
    with portal.db() as s:
        found = resets.valid_reset(s, token, portal.now())
        username = found[1].username if found else ""
    if not found:
        return _invalid_link(portal, request)
    request.state.csrf_token = _reset_proof(token)
    return page(request, "reset.html.j2", invalid=False, error=None, username=username)


@router.post("/reset/{token}")
def reset(request: Request, token: str, password: FormText = "", confirm: FormText = "",
          csrf_token: FormText = "") -> Response:
    portal = get_portal(request)
    request.state.account = None
    if not (sessions.same_site_request(request) and sessions.same_secret(csrf_token, _reset_proof(token))):
        _audit(portal, request, "csrf", "denied", detail={"path": "/reset"})
        raise HTTPException(403, "This form did not come from this site.")
    now = portal.now()
    username = tenant = None
    with sessions.write_tx(portal) as s:
        found = resets.valid_reset(s, token, now)
        if not found:
            problem: str | None = "invalid"
        else:
            row, account = found
            problem = (passwords.policy_problem(account.username, password)
                       or (None if password == confirm else MISMATCH))
            if problem is None:
                account.password_hash = passwords.hash_password(password)
                account.password_changed_at = utc_iso(now)
                ratelimit.note_success(account)  # an admin's link also lifts a lockout
                row.used_at = utc_iso(now)
                sessions.end_all_sessions(s, account.id)  # whoever had the old password is signed out
            username, tenant = account.username, account.tenant_id
    if problem == "invalid" or username is None:
        return _invalid_link(portal, request)
    if problem is not None:
        request.state.csrf_token = _reset_proof(token)
        return page(request, "reset.html.j2", status=400, invalid=False, username=username,
                    error=_problem_text(i18n.request_language(request), problem))
    _audit(portal, request, "password_reset", "ok", account=username, tenant=tenant)
    return page(request, "reset_done.html.j2")
