"""Sign-in sessions and CSRF protection.

The browser holds a random token in the `attest_session` cookie (HttpOnly, Secure,
SameSite=Strict, Path=/); the database holds only its SHA-256, so a copy of the database opens
no session. A session ends at its absolute lifetime (`portal.session_hours`), after
`portal.idle_minutes` unused, at sign-out, and when its account is disabled. A new token is
issued at every sign-in and any earlier cookie is discarded, so a token planted before sign-in
(session fixation) never becomes a signed-in session.

Every POST form carries the session's synchronizer token (`csrf_token`, compared in constant
time); and when the browser says where the request comes from (Origin, else Referer), it must
be this site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from attest.canonical import parse_utc, utc_iso
from attest.portal.context import Portal
from attest.portal.hotpath import RowReader
from attest.portal.models import Account, PortalSession

COOKIE = "attest_session"
CSRF_FIELD = "csrf_token"
# A session's last use is written at most this often (a write per request queued every request
# behind the others); the idle timeout is counted in minutes, so this is exact enough.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """The account behind a request's session, as read at the start of the request (a plain
    value: templates and handlers never touch a database object after its session closed)."""

    account_id: int
    username: str
    role: str
    tenant_id: str | None
    csrf_token: str
    session_hash: bytes


@contextmanager
def write_tx(portal: Portal) -> Iterator[Session]:
    """A transaction that reads and then writes. On SQLite it takes the write lock at BEGIN: a
    deferred transaction that read first fails at once ("database is locked") when another
    writer (the audit sealer, a render) committed meanwhile, instead of waiting its turn."""
    with portal.write() as s:
        yield s


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def same_secret(given: object, expected: str) -> bool:
    """Constant-time comparison of a form or cookie value with the expected secret."""
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def start_session(portal: Portal, s: Session, account: Account, client: str) -> str:
    """A new session for *account* (inside the caller's transaction); returns the cookie token."""
    now = portal.now()
    token = new_token()
    # Housekeeping: this account's sessions that have ended anyway go now.
    s.execute(delete(PortalSession).where(PortalSession.account_id == account.id,
                                          PortalSession.expires_at <= utc_iso(now)))
    s.add(PortalSession(id_hash=token_hash(token), account_id=account.id, csrf_token=new_token(),
                        created_at=utc_iso(now), last_seen_at=utc_iso(now),
                        expires_at=utc_iso(now + timedelta(hours=portal.settings.session_hours)), client=client[:64]))
    return token


def _alive(portal: Portal, expires_at: str, last_seen_at: str, now: datetime) -> bool:
    idle = timedelta(minutes=portal.settings.idle_minutes)
    return now < parse_utc(expires_at) and now < parse_utc(last_seen_at) + idle


# The session and its account (outer join: a session whose account is gone is ended like an expired one).
_SESSION_QUERY = RowReader(
    select(PortalSession.expires_at, PortalSession.last_seen_at, PortalSession.csrf_token, Account.id,
           Account.username, Account.role, Account.tenant_id, Account.disabled)
    .outerjoin(Account, Account.id == PortalSession.account_id)
    .where(PortalSession.id_hash == bindparam("digest")))


@dataclass(frozen=True)
class SessionRead:
    """What one read of a session found: the account (None when there is no live session) and the
    write it calls for, if any: "end" (delete an ended session) or "touch" (note its use)."""

    signed_in: SignedIn | None
    write: str = ""
    digest: bytes = b""


def read_session(portal: Portal, token: str) -> SessionRead:
    """One read of the session behind a cookie *token*, writing nothing (an async caller reads
    on the event loop and hands only the rare write to a thread)."""
    if not token or len(token) > 128:
        return SessionRead(None)
    digest = token_hash(token)
    now = portal.now()
    # One read rather than two ORM lookups: every request of a signed-in user pays it.
    row = _SESSION_QUERY.first(portal.log.engine, digest=digest)
    if row is None:
        return SessionRead(None)
    expires_at, last_seen_at, csrf_token, account_id, username, role, tenant_id, disabled = row
    if account_id is None or disabled or not _alive(portal, expires_at, last_seen_at, now):
        return SessionRead(None, "end", digest)
    signed_in = SignedIn(account_id, username, role, tenant_id, csrf_token, digest)
    # The idle timeout counts in minutes: noting use once a minute is exact enough.
    return SessionRead(signed_in, "touch" if now - parse_utc(last_seen_at) >= TOUCH_EVERY else "", digest)


def write_session(portal: Portal, read: SessionRead) -> None:
    """The write *read* calls for: an ended session is deleted, a live one marked as used now."""
    if read.write == "end":
        with write_tx(portal) as s:
            s.execute(delete(PortalSession).where(PortalSession.id_hash == read.digest))
    elif read.write == "touch":
        with write_tx(portal) as s:
            s.execute(update(PortalSession).where(PortalSession.id_hash == read.digest)
                      .values(last_seen_at=utc_iso(portal.now())))


def load_session(portal: Portal, token: str) -> SignedIn | None:
    """The signed-in account for a cookie *token*, or None; an ended session is deleted, a live one
    is marked as used now (the idle timeout counts from here)."""
    read = read_session(portal, token)
    write_session(portal, read)
    return read.signed_in


def end_session(portal: Portal, token: str | None) -> None:
    if token:
        with write_tx(portal) as s:
            s.execute(delete(PortalSession).where(PortalSession.id_hash == token_hash(token)))


def end_all_sessions(s: Session, account_id: int) -> int:
    """End every session of an account (disabled, or its password was reset)."""
    result = s.execute(delete(PortalSession).where(PortalSession.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)  # a DML result is a CursorResult; typed as Result


def set_cookie(response: Response, name: str, token: str, max_age_s: int, path: str = "/") -> None:
    # Secure even on plain HTTP: browsers treat http://127.0.0.1 and localhost as secure
    # contexts, and anywhere else the portal belongs behind TLS.
    response.set_cookie(name, token, max_age=max_age_s, path=path, secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str, path: str = "/") -> None:
    response.delete_cookie(name, path=path, secure=True, httponly=True, samesite="strict")


def same_site_request(request: Request) -> bool:
    """False when the browser says the request comes from another site (Origin, else Referer);
    True when it says nothing (older clients, privacy settings) — the CSRF token still decides.
    Compared by host and port only: behind a TLS-terminating proxy the portal sees http while
    the browser says https."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    if claimed == "null":  # a sandboxed frame, a data: page, a redirect across sites
        return False
    host = request.headers.get("host", "")
    try:
        where = urlsplit(claimed)
        return bool(where.scheme in ("http", "https") and where.netloc) and where.netloc.lower() == host.lower()
    except ValueError:
        return False
