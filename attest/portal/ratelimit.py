"""Sign-in limits: per account, `portal.max_failed_logins` consecutive failures lock it for
`portal.lockout_minutes` (its right password is refused meanwhile); per client address, more
than `portal.client_logins_per_minute` attempts in the last 60 seconds are refused with 429.
Both survive a restart: they live in the database (`portal_accounts`, `portal_login_attempts`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from attest.canonical import parse_utc, utc_iso
from attest.portal.context import Portal
from attest.portal.models import Account, LoginAttempt

WINDOW = timedelta(seconds=60)
KEEP = timedelta(days=1)  # attempts older than this serve no limit and are deleted


def client_limited(portal: Portal, s: Session, client: str) -> bool:
    """Whether *client* has used up its attempts for the last minute. Attempts stamped after
    now are not counted, so a clock set back never locks everyone out."""
    now = portal.now()
    count = s.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.client == client[:64], LoginAttempt.at > utc_iso(now - WINDOW),
        LoginAttempt.at <= utc_iso(now)))
    return int(count or 0) >= portal.settings.client_logins_per_minute


def note_attempt(portal: Portal, s: Session, username: str, client: str, ok: bool) -> None:
    now = portal.now()
    s.add(LoginAttempt(username=username[:64], client=client[:64], at=utc_iso(now), ok=ok))
    s.execute(delete(LoginAttempt).where(LoginAttempt.at < utc_iso(now - KEEP)))


def locked(account: Account, now: datetime) -> bool:
    return account.locked_until is not None and now < parse_utc(account.locked_until)


def note_failure(portal: Portal, account: Account) -> bool:
    """Count a wrong password; returns True when this failure locks the account. The count is
    kept past the lockout (a success resets it), so after a lockout one more failure locks again."""
    account.failed_logins = (account.failed_logins or 0) + 1
    if account.failed_logins >= portal.settings.max_failed_logins:
        account.locked_until = utc_iso(portal.now() + timedelta(minutes=portal.settings.lockout_minutes))
        return True
    return False


def note_success(account: Account) -> None:
    account.failed_logins = 0
    account.locked_until = None
