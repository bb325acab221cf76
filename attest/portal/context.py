"""What every request handler of the portal gets: the configuration, the evidence log and its
database, the signer (to seal the audit trail and build packs), the clock, and the client's
address as the portal believes it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.orm import Session

from attest.config import LoadedConfig, PortalConfig
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Portal:
    loaded: LoadedConfig
    log: EvidenceLog
    signer: ProviderSigner
    clock: Callable[[], datetime] = field(default=_utcnow)  # tests move time to expire links and sessions

    @property
    def settings(self) -> PortalConfig:
        return self.loaded.model.portal

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A database session in one transaction (committed on success, rolled back on error)."""
        with Session(self.log.engine) as s, s.begin():
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that reads and then writes. On SQLite it takes the write lock at BEGIN:
        a deferred transaction that read first fails at once ("database is locked") when another
        writer (the audit sealer, a render) committed meanwhile, instead of waiting its turn."""
        with Session(self.log.writer) as s, s.begin():
            yield s

    def client_address(self, request: Request) -> str:
        """The client's IP address: the TCP peer, or, when the peer is a trusted reverse proxy,
        the last address in X-Forwarded-For that is not itself a trusted proxy."""
        peer = request.client.host if request.client else "unknown"
        trusted = {str(ipaddress.ip_address(p)) for p in self.settings.trusted_proxies}
        if peer not in trusted:
            return peer
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
        for address in reversed(forwarded):
            try:
                normal = str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # a malformed header is not believed
            if normal not in trusted:
                return normal
        return peer


def get_portal(request: Request) -> Portal:
    """FastAPI dependency: the portal the application was created with."""
    portal: Portal = request.app.state.portal
    return portal
