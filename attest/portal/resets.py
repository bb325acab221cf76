"""One-time password-set links (`attest users reset-link`, and `attest users add` for a new
account): /reset/<token>, stored as the token's SHA-256, valid for `portal.reset_link_hours`,
used once. Issuing a new link voids the account's earlier unused ones."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from attest.canonical import parse_utc, utc_iso
from attest.portal.models import Account, ResetToken
from attest.portal.sessions import new_token, token_hash

PATH = "/reset/"


def issue_reset(s: Session, account: Account, by: str, now: datetime, hours: float) -> str:
    """A new reset token for *account*; returns the token (shown once, never stored)."""
    for old in s.scalars(select(ResetToken).where(ResetToken.account_id == account.id,
                                                  ResetToken.used_at.is_(None))):
        old.used_at = utc_iso(now)  # voided: only the newest link works
    token = new_token()
    s.add(ResetToken(token_hash=token_hash(token), account_id=account.id, created_by=by[:64],
                     created_at=utc_iso(now), expires_at=utc_iso(now + timedelta(hours=hours))))
    return token


def valid_reset(s: Session, token: str, now: datetime) -> tuple[ResetToken, Account] | None:
    """The unused, unexpired reset token and its (enabled) account, or None."""
    if not token or len(token) > 128:
        return None
    row = s.get(ResetToken, token_hash(token))
    if row is None or row.used_at is not None or now >= parse_utc(row.expires_at):
        return None
    account = s.get(Account, row.account_id)
    if account is None or account.disabled:
        return None
    return row, account


def reset_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + PATH + token
