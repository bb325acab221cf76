"""Keys the portal makes for itself: generated once, kept in the portal's database
(`portal_secrets`, migration 0004) and shared by every worker and every restart.

The database, not a file in the workspace: it is the one thing all workers already share (on
PostgreSQL they may run on several hosts), it is already protected and backed up as the portal's
state, and a file would need its permissions checked on every host. The key is never logged and
never leaves this module except as HMAC input; `repr` of the row hides it.
"""

from __future__ import annotations

import secrets
import threading
import weakref

from sqlalchemy import Engine, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from attest.canonical import utc_iso
from attest.portal.context import Portal
from evidence.models import Base

KEY_BYTES = 32


class PortalSecret(Base):
    __tablename__ = "portal_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(20))

    def __repr__(self) -> str:  # never the value, should a row end up in a log message
        return f"PortalSecret(name={self.name!r})"


# Read once per database engine: keyed weakly by the engine itself (not its id, which a later
# engine may reuse), so a test opening many workspaces never mixes their keys.
_kept: weakref.WeakKeyDictionary[Engine, dict[str, bytes]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def shared_key(portal: Portal, name: str) -> bytes:
    """The key called *name*, made (32 random bytes) the first time any worker asks for it."""
    with _lock:
        known = _kept.setdefault(portal.log.engine, {})
        if name not in known:
            known[name] = _load_or_create(portal, name)
        return known[name]


def _load_or_create(portal: Portal, name: str) -> bytes:
    with portal.db() as s:
        value = s.scalar(select(PortalSecret.value).where(PortalSecret.name == name))
    if value is not None:
        return bytes(value)
    try:
        with portal.write() as s:
            s.add(PortalSecret(name=name, value=secrets.token_bytes(KEY_BYTES), created_at=utc_iso(portal.now())))
    except IntegrityError:  # another worker made it first: theirs is the one
        pass
    with portal.db() as s:
        stored = s.scalar(select(PortalSecret.value).where(PortalSecret.name == name))
    if not stored:  # never sign with an empty key: anyone could forge what it signs
        raise RuntimeError(f"the portal secret {name!r} could not be stored or read back")
    return bytes(stored)
