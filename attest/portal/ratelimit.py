"""Rate limits. Sign-in: per account, `portal.max_failed_logins` consecutive failures lock it for
`portal.lockout_minutes` (its right password is refused meanwhile); per client address, more
than `portal.client_logins_per_minute` attempts in the last 60 seconds are refused with 429.
Other actions limited per client address (verification uploads: `portal.verify_uploads_per_minute`)
count their uses in `portal_rate_events` the same way: a sliding window of 60 seconds.
All survive a restart and are shared by every worker: they live in the database."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from attest.canonical import parse_utc, utc_iso
from attest.portal.context import Portal
from attest.portal.models import Account, LoginAttempt
from evidence.models import Base

WINDOW = timedelta(seconds=60)
KEEP = timedelta(days=1)  # attempts older than this serve no limit and are deleted


class RateEvent(Base):
    """One use of a rate-limited action by a client address (migration 0004)."""

    __tablename__ = "portal_rate_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(32))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(20))


def _window(portal: Portal, s: Session, table: Any, client: str, *where: Any) -> tuple[int, str | None]:
    """(uses, oldest use's time) by *client* in *table* (LoginAttempt or RateEvent: both have
    `client` and `at`) in the last minute. Uses stamped after now are not counted, so a clock set
    back never locks everyone out."""
    now = portal.now()
    count, oldest = s.execute(select(func.count(), func.min(table.at)).where(
        table.client == client[:64], table.at > utc_iso(now - WINDOW), table.at <= utc_iso(now), *where)).one()
    return int(count or 0), oldest


def client_limited(portal: Portal, s: Session, client: str) -> bool:
    """Whether *client* has used up its sign-in attempts for the last minute."""
    return _window(portal, s, LoginAttempt, client)[0] >= portal.settings.client_logins_per_minute


def take(portal: Portal, action: str, client: str, per_minute: int) -> int:
    """Count one use of *action* by *client*; 0 when it is allowed, else the seconds to wait
    (for Retry-After) — a refused use is not counted, so a client that keeps trying is let in
    again once its older uses leave the window."""
    now = portal.now()
    with portal.write() as s:  # count and add in one write transaction: workers queue on it
        used, oldest = _window(portal, s, RateEvent, client, RateEvent.action == action)
        if used >= per_minute:
            free_at = parse_utc(oldest) + WINDOW if oldest else now + WINDOW
            return max(1, math.ceil((free_at - now).total_seconds()))
        s.add(RateEvent(action=action[:32], client=client[:64], at=utc_iso(now)))
        s.execute(delete(RateEvent).where(RateEvent.at < utc_iso(now - KEEP)))
    return 0


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
