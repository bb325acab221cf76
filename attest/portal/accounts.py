"""Managing the portal's local accounts: add, list, disable, enable, and one-time password-set
links. One implementation behind both `attest users` (attest/portal/users_cli.py) and the
admin's accounts page (attest/portal/admin_users.py), so the two cannot drift apart in what
they accept or record.

No password is ever set here: adding an account or asking for a link returns a one-time token
(attest/portal/resets.py) the caller shows once and never stores or records. Every change is
audited (user_add, user_disable, user_enable, reset_link) with the actor, never the token.
Bad input raises BadInput before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attest.canonical import utc_iso
from attest.errors import BadInput
from attest.portal import audit, ratelimit
from attest.portal.models import ROLES, Account, ResetToken
from attest.portal.resets import issue_reset
from attest.portal.sessions import end_all_sessions, write_tx

if TYPE_CHECKING:
    from fastapi import Request

    from attest.portal.context import Portal

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
USERNAME_RULE = "3–64 letters, digits and . _ @ -, starting with a letter or digit"


@dataclass(frozen=True)
class AccountRow:
    """One account as the list shows it (a plain value, read inside its transaction)."""

    username: str
    role: str
    tenant: str
    disabled: bool
    locked: bool
    password_set: bool


def tenant_ids(portal: Portal) -> list[str]:
    return [t.id for t in portal.loaded.model.tenants]


def check_new(portal: Portal, username: str, role: str, tenant: str | None) -> None:
    """BadInput unless *username*, *role* and *tenant* make a valid new account (uniqueness is
    checked again inside the writing transaction)."""
    if not USERNAME.fullmatch(username):
        raise BadInput(f"username {username[:80]!r}: {USERNAME_RULE}")
    if role not in ROLES:
        raise BadInput(f"role {role[:20]!r}: give one of {', '.join(ROLES)}")
    if (role == "tenant") != (tenant is not None):
        raise BadInput("tenant: required for role tenant, and only for it")
    known = tenant_ids(portal)
    if tenant is not None and tenant not in known:
        raise BadInput(f"tenant {tenant[:80]!r}: not a configured tenant (known: {', '.join(known)})")


def _find(s: Session, username: str) -> Account:
    account = s.scalar(select(Account).where(Account.username == username)) if USERNAME.fullmatch(username) else None
    if account is None:
        raise BadInput(f"username {username[:80]!r}: no such account")
    return account


def add(portal: Portal, username: str, role: str, tenant: str | None, by: str,
        request: Request | None = None) -> str:
    """Add an enabled account without a password and return the token of its first one-time
    link. The account and its link are written in one transaction: an account is never left
    without the link that lets its user in."""
    check_new(portal, username, role, tenant)
    try:
        with write_tx(portal) as s:
            if s.scalar(select(Account.id).where(Account.username == username)) is not None:
                raise BadInput(f"username {username!r}: an account with this name exists")
            account = Account(username=username, role=role, tenant_id=tenant, password_hash=None, disabled=False,
                              failed_logins=0, created_at=utc_iso(portal.now()))
            s.add(account)
            s.flush()  # its id, for the link
            token = issue_reset(s, account, by, portal.now(), portal.settings.reset_link_hours)
    except IntegrityError:  # another process added the same name between the check and the insert
        raise BadInput(f"username {username!r}: an account with this name exists") from None
    audit.record(portal, request, "user_add", "ok", account=by[:64], tenant=tenant,
                 detail={"username": username, "role": role})
    return token


def reset_link(portal: Portal, username: str, by: str, request: Request | None = None) -> str:
    """A new one-time link for an enabled account (its earlier unused links stop working)."""
    with write_tx(portal) as s:
        account = _find(s, username)
        if account.disabled:
            raise BadInput(f"username {username!r}: the account is disabled; enable it first")
        token = issue_reset(s, account, by, portal.now(), portal.settings.reset_link_hours)
        tenant = account.tenant_id
    # Only that a link was issued: the token opens the account and stays with whoever asked.
    audit.record(portal, request, "reset_link", "ok", account=by[:64], tenant=tenant, detail={"username": username})
    return token


def disable(portal: Portal, username: str, by: str, request: Request | None = None) -> int:
    """Disable an account: it can no longer sign in, its sessions end now and its unused links
    are void. Returns how many sessions ended."""
    with write_tx(portal) as s:
        account = _find(s, username)
        account.disabled = True
        ended = end_all_sessions(s, account.id)
        for link in s.scalars(select(ResetToken).where(ResetToken.account_id == account.id,
                                                       ResetToken.used_at.is_(None))):
            link.used_at = utc_iso(portal.now())
        tenant = account.tenant_id
    audit.record(portal, request, "user_disable", "ok", account=by[:64], tenant=tenant,
                 detail={"username": username, "sessions_ended": ended})
    return ended


def enable(portal: Portal, username: str, by: str, request: Request | None = None) -> None:
    """Enable a disabled account again. Its password (if any) works again; the links voided when
    it was disabled do not: issue a new one if its user needs one."""
    with write_tx(portal) as s:
        account = _find(s, username)
        account.disabled = False
        tenant = account.tenant_id
    audit.record(portal, request, "user_enable", "ok", account=by[:64], tenant=tenant, detail={"username": username})


def list_accounts(portal: Portal) -> list[AccountRow]:
    now = portal.now()
    with portal.db() as s:
        return [AccountRow(a.username, a.role, a.tenant_id or "", a.disabled, ratelimit.locked(a, now),
                           a.password_hash is not None)
                for a in s.scalars(select(Account).order_by(Account.username))]
