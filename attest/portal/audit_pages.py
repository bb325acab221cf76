"""GET /admin/audit (admin only): the newest audit entries, filtered by tenant and action, each
with the log position that seals it (or "pending" until the sealer's next round). Read from the
staging table, so entries past the retention period are only in the log (`attest audit export`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from attest.portal.auth import require_role
from attest.portal.context import get_portal
from attest.portal.models import AuditEntry
from attest.portal.pages import page
from attest.portal.sessions import SignedIn

router: APIRouter = APIRouter(include_in_schema=False)

Admin = Annotated[SignedIn, Depends(require_role("admin"))]
SHOWN = 200


@router.get("/admin/audit")
def audit_page(request: Request, signed: Admin, tenant: Annotated[str, Query(max_length=64)] = "",
               action: Annotated[str, Query(max_length=32)] = "") -> Response:
    portal = get_portal(request)
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(SHOWN)
    if tenant:
        q = q.where(AuditEntry.tenant_id == tenant)
    if action:
        q = q.where(AuditEntry.action == action)
    with portal.db() as s:
        entries = [{"at": e.at, "action": e.action, "outcome": e.outcome, "who": e.account or e.link or "",
                    "tenant": e.tenant_id or "", "client": e.client, "detail": e.detail,
                    "sealed": "pending" if e.sealed_idx is None else f"#{e.sealed_idx}"}
                   for e in s.scalars(q)]
        actions = sorted(set(s.scalars(select(AuditEntry.action).distinct())))
    return page(request, "audit_admin.html.j2", entries=entries, tenant=tenant, action=action, actions=actions,
                tenants=[t.id for t in portal.loaded.model.tenants], shown=SHOWN,
                provider_name=portal.loaded.model.provider.name)
