"""The portal's audit trail: every login, download, share-link use and verification.

`record` stages an entry (a `portal_audit` row, in the request's own time); `seal_pending` seals
staged entries into the evidence log as `portal.audit` records, Merkle-hashed and covered by a
signed checkpoint (being built: sealing, per-tenant export, retention).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from attest.canonical import utc_iso
from attest.portal.context import Portal
from attest.portal.models import AuditEntry

router = APIRouter()


def record(portal: Portal, request: Request | None, action: str, outcome: str, *, account: str | None = None,
           link: str | None = None, tenant: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Stage one audit entry: *action* (login, logout, download, share_use, verify, …), *outcome*
    (ok, denied, not_found, bad_request, locked, …), who (*account* username or *link*: a share
    link's or API token's public id, never a secret), the *tenant* concerned, and *detail*
    (JSON-able, no secrets). The client address comes from the request."""
    client = portal.client_address(request) if request is not None else "cli"
    with portal.db() as s:
        s.add(AuditEntry(at=utc_iso(portal.now()), action=action, outcome=outcome, account=account, link=link,
                         tenant_id=tenant, client=client[:64],
                         detail=json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)))


def seal_pending(portal: Portal) -> int:
    """Seal every staged entry into the evidence log; returns how many were sealed."""
    return 0
