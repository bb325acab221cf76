"""Share links for tenders: sales hand a tender board one document (its PDF, or its tender or
audit pack) through a link that expires, can be revoked, and may ask for a click-through NDA.

The document is a tenant's current one, or the provider-wide (fleet) attestation's current one
(`attest render --fleet`; its PDF or its fleet pack, `attest export --fleet`). A fleet link is
kept and audited under the tenant key the signed log records that document under, "_fleet"
(FLEET_SCOPE; never a configured tenant id, whose pattern starts with a letter or digit), so no
tenant's list, audit filter or export ever includes it, and the tenant pages, which serve only
documents whose record names the session's tenant, never serve it.

The link is `/s/<token>`: 32 random bytes, stored only as their SHA-256, so a copy of the database
opens no link; `public_id` names the link everywhere else (audit trail, lists, revocation). The
routes take nothing but the token: the document, its tenant and the scope come from the link's
row, so a link can never reach another document. Every PDF fetched through a link carries a
recipient stamp (attest/portal/stamp.py) in an incremental update that the certification
signature permits. Expired and revoked links answer 410, unknown ones 404; every use, allowed or
not, is in the audit trail under the link's public id (never the token).

The lifecycle (`create_link`, `revoke_link`, `list_links`, `resolve`) is plain functions, used by
`attest shares` (shares_cli.py) and by the web form here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select, update

from attest.canonical import sha256_hex, utc_iso
from attest.errors import BadInput
from attest.fleet.model import FLEET_SCOPE
from attest.portal import audit
from attest.portal.context import Portal, get_portal
from attest.portal.models import ShareLink
from attest.portal.pages import page
from attest.status import DocumentIndex, DocumentStatus, parse_document_id

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)

SCOPES = ("pdf", "tender-pack", "audit-pack", "fleet-pack")
# Which scopes fit which document: the tender and audit packs are built from a tenant's evidence,
# the fleet pack from the provider-wide attestation's (attest/pack/fleet.py); a PDF is either.
TENANT_SCOPES = ("pdf", "tender-pack", "audit-pack")
FLEET_SCOPES = ("pdf", "fleet-pack")
MAX_NDA_CHARS = 8000
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
NDA_COOKIE = "attest_share_nda"
NDA_ACCEPT_S = 12 * 3600  # an acceptance lets this browser download for half a day
# The name of the key that signs the NDA-acceptance cookie (attest/portal/keys.py): one key in the
# database for every worker, so an acceptance holds across workers and restarts.
NDA_KEY_NAME = "share-nda-cookie"


@dataclass(frozen=True)
class LinkInfo:
    """A share link as read (a plain value, never the token)."""

    public_id: str
    tenant: str
    document_id: str
    scope: str
    recipient: str
    nda_text: str | None
    created_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    uses: int

    @property
    def fleet(self) -> bool:
        """Whether it shares the provider-wide attestation (recorded under FLEET_SCOPE)."""
        return self.tenant == FLEET_SCOPE

    def state(self, now: str) -> str:
        return "revoked" if self.revoked_at else "expired" if self.expires_at <= now else "active"


@dataclass(frozen=True)
class CreatedLink:
    token: str  # shown once, to whoever created the link; never stored
    link: LinkInfo

    @property
    def path(self) -> str:
        return f"/s/{self.token}"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _info(row: ShareLink) -> LinkInfo:
    return LinkInfo(row.public_id, row.tenant_id, row.document_id, row.scope, row.recipient, row.nda_text,
                    row.created_by, row.created_at, row.expires_at, row.revoked_at, row.uses)


def document_index(portal: Portal) -> DocumentIndex:
    """The signed log's documents, read as `attest verify` reads them (with the trust anchors)."""
    from attest.verify import load_trust_anchors

    loaded = portal.loaded
    anchors = load_trust_anchors([loaded.resolve(p) for p in loaded.model.provider.trust_anchors])
    return DocumentIndex.load(portal.log, anchors)


def current_document(portal: Portal, document_id: str) -> DocumentStatus:
    """*document_id*'s status when it is a tenant's current document or the current provider-wide
    attestation; BadInput otherwise."""
    status = document_index(portal).status(parse_document_id(document_id))
    if not status.known:
        raise BadInput(f"document {document_id}: not in the signed evidence log")
    if status.state != "current":
        raise BadInput(f"document {document_id}: {status.describe()}; share the current document instead")
    if status.tenant != FLEET_SCOPE and status.tenant not in {t.id for t in portal.loaded.model.tenants}:
        # A tenant since removed from attest.yaml: its documents have no one to speak for them.
        raise BadInput(f"document {document_id}: not the document of a configured tenant")
    return status


def check_scope(scope: str, status: DocumentStatus) -> None:
    """BadInput unless *scope* (one of SCOPES) is one *status*'s document can be shared as."""
    fleet = status.tenant == FLEET_SCOPE
    allowed = FLEET_SCOPES if fleet else TENANT_SCOPES
    if scope not in allowed:
        whose = "the provider-wide attestation" if fleet else "a tenant's document"
        raise BadInput(f"scope {scope}: {whose} is shared as {' or '.join(allowed)}")


def clean_nda(text: str | None) -> str | None:
    """NDA text as shown (NFC, trimmed; line breaks kept), None when empty."""
    if text is None:
        return None
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if any(unicodedata.category(c) in {"Cc", "Cf"} and c not in "\n\t" for c in text):
        raise BadInput("the NDA text contains control or invisible formatting characters")
    if len(text) > MAX_NDA_CHARS:
        raise BadInput(f"the NDA text is {len(text)} characters long; at most {MAX_NDA_CHARS} are allowed")
    return text or None


def create_link(portal: Portal, *, document_id: str, scope: str, recipient: str, days: int, created_by: str,
                nda_text: str | None = None, request: Request | None = None) -> CreatedLink:
    """A new link to *document_id* (a tenant's current document or the current provider-wide
    attestation; the tenant key is the log's) for *recipient*, valid *days* days (at most
    `portal.share_link_max_days`). BadInput for anything else. Audited (share_create)."""
    from attest.portal.stamp import clean_recipient

    if scope not in SCOPES:
        raise BadInput(f"scope {scope!r}: expected one of {', '.join(SCOPES)}")
    longest = portal.settings.share_link_max_days
    if not 1 <= days <= longest:
        raise BadInput(f"expiry: {days} day(s); give 1 to {longest} (portal.share_link_max_days)")
    try:
        name = clean_recipient(recipient)  # the stamp's own rules: what is accepted can be stamped
    except ValueError as exc:
        raise BadInput(f"recipient: {exc}") from None
    nda = clean_nda(nda_text)
    status = current_document(portal, document_id)
    check_scope(scope, status)
    token, now = secrets.token_urlsafe(32), portal.now()
    with portal.db() as s:
        row = ShareLink(token_hash=token_hash(token), public_id="SL-" + secrets.token_hex(6).upper(),
                        tenant_id=str(status.tenant), document_id=status.document_id, scope=scope, recipient=name,
                        nda_text=nda, created_by=created_by[:64], created_at=utc_iso(now),
                        expires_at=utc_iso(now + timedelta(days=days)), revoked_at=None, uses=0)
        s.add(row)
        s.flush()
        info = _info(row)
    audit.record(portal, request, "share_create", "ok", account=created_by[:64], link=info.public_id,
                 tenant=info.tenant, detail={"document": info.document_id, "scope": scope, "recipient": name,
                                             "expires_at": info.expires_at, "nda": nda is not None})
    return CreatedLink(token, info)


def revoke_link(portal: Portal, public_id: str, by: str, request: Request | None = None) -> LinkInfo:
    """Revoke a link (from now on it answers 410). BadInput for an unknown or already revoked one."""
    with audit.writing(portal) as s:
        row = s.execute(select(ShareLink).where(ShareLink.public_id == public_id)).scalar_one_or_none()
        if row is None:
            raise BadInput(f"share link {public_id}: unknown")
        if row.revoked_at is not None:
            raise BadInput(f"share link {public_id}: already revoked on {row.revoked_at}")
        row.revoked_at = utc_iso(portal.now())
        info = _info(row)
    audit.record(portal, request, "share_revoke", "ok", account=by[:64], link=public_id, tenant=info.tenant,
                 detail={"document": info.document_id})
    return info


def list_links(portal: Portal, tenant: str | None = None) -> list[LinkInfo]:
    """Links, newest first (all, or one tenant's)."""
    q = select(ShareLink).order_by(ShareLink.created_at.desc(), ShareLink.public_id)
    if tenant is not None:
        q = q.where(ShareLink.tenant_id == tenant)
    with portal.db() as s:
        return [_info(r) for r in s.execute(q).scalars()]


def resolve(portal: Portal, token: str) -> tuple[LinkInfo | None, str]:
    """The link behind *token* and whether it may be used: ok | not_found | expired | revoked."""
    if not TOKEN_RE.match(token):
        return None, "not_found"
    with portal.db() as s:
        row = s.get(ShareLink, token_hash(token))
        if row is None:
            return None, "not_found"
        info = _info(row)
    state = info.state(utc_iso(portal.now()))
    return info, ("ok" if state == "active" else state)


# --- the NDA acceptance cookie -----------------------------------------------------------------


def _nda_mac(portal: Portal, link: LinkInfo, until: int) -> str:
    from attest.portal.keys import shared_key

    # The NDA text's digest is in the MAC: a link whose text changed asks for acceptance again.
    message = f"{link.public_id}|{sha256_hex((link.nda_text or '').encode())}|{until}".encode()
    return hmac.new(shared_key(portal, NDA_KEY_NAME), message, hashlib.sha256).hexdigest()


def nda_cookie(portal: Portal, link: LinkInfo) -> str:
    """Proof that this browser accepted this link's NDA text, valid NDA_ACCEPT_S seconds."""
    until = int(time.time()) + NDA_ACCEPT_S
    return f"{link.public_id}.{until}.{_nda_mac(portal, link, until)}"


def nda_accepted(portal: Portal, link: LinkInfo, cookie: str | None) -> bool:
    if link.nda_text is None:
        return True
    parts = (cookie or "").split(".")
    if len(parts) != 3 or parts[0] != link.public_id or not parts[1].isdigit() or int(parts[1]) < time.time():
        return False
    return hmac.compare_digest(parts[2], _nda_mac(portal, link, int(parts[1])))


# --- keeping tokens out of logs ----------------------------------------------------------------

# Paths that carry a secret: a share link (/s/<token>) and a one-time reset link (/reset/<token>).
_SECRET_PATH = re.compile(r"/(s|reset)/[A-Za-z0-9_-]{8,}")
_MASK = {"s": "/s/<share-token>", "reset": "/reset/<reset-token>"}


def mask_share_tokens(text: str) -> str:
    return _SECRET_PATH.sub(lambda m: _MASK[m.group(1)], text)


class ShareTokenFilter(logging.Filter):
    """Masks /s/<token> and /reset/<token> in log records (uvicorn's access log prints every path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_share_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_share_tokens(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_filter() -> None:
    """Put ShareTokenFilter on uvicorn's loggers (idempotent). Called at import, so any process
    serving these routes has it; uvicorn's dictConfig replaces handlers but keeps logger filters."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger_ = logging.getLogger(name)
        if not any(isinstance(f, ShareTokenFilter) for f in logger_.filters):
            logger_.addFilter(ShareTokenFilter())


install_log_filter()


# --- the recipient's pages ---------------------------------------------------------------------

PortalDep = Annotated[Portal, Depends(get_portal)]


def _refuse(portal: Portal, request: Request, link: LinkInfo | None, outcome: str, step: str) -> Response:
    """404 (unknown) or 410 (expired, revoked, document withdrawn), audited."""
    audit.record(portal, request, "share_use", outcome, link=link.public_id if link else None,
                 tenant=link.tenant if link else None,
                 detail={"step": step, **({"document": link.document_id, "scope": link.scope} if link else {})})
    status = 404 if link is None else 410
    return page(request, "share_gone.html.j2", status=status, outcome=outcome)


def _usable(portal: Portal, request: Request, token: str, step: str
            ) -> tuple[LinkInfo, DocumentStatus] | Response:
    link, outcome = resolve(portal, token)
    if link is None or outcome != "ok":
        return _refuse(portal, request, link, outcome, step)
    try:
        status = current_document(portal, link.document_id)
    except BadInput:  # superseded or revoked since the link was made: the link shares nothing newer
        return _refuse(portal, request, link, "withdrawn", step)
    return link, status


def _used(portal: Portal, request: Request, link: LinkInfo, step: str, outcome: str = "ok",
          **detail: object) -> None:
    audit.record(portal, request, "share_use", outcome, link=link.public_id, tenant=link.tenant,
                 detail={"step": step, "document": link.document_id, "scope": link.scope, **detail})


@router.get("/s/{token}")
def share_page(request: Request, token: str, portal: PortalDep) -> Response:
    found = _usable(portal, request, token, "view")
    if isinstance(found, Response):
        return found
    link, status = found
    _used(portal, request, link, "view")
    return _summary(portal, request, link, status, token, nda_accepted(portal, link, request.cookies.get(NDA_COOKIE)))


def _summary(portal: Portal, request: Request, link: LinkInfo, doc: DocumentStatus, token: str, accepted: bool,
             http_status: int = 200) -> Response:
    """The document's summary, and the NDA form or the download button."""
    # The provider-wide attestation names no customer: the page says what it is instead.
    legal_name = "" if link.fleet else portal.loaded.tenant(link.tenant).legal_name
    return page(request, "share.html.j2", status=http_status, link=link, legal_name=legal_name, doc=doc,
                accepted=accepted, token=token)


@router.post("/s/{token}/accept")
def accept_nda(request: Request, token: str, portal: PortalDep,
               accept: Annotated[str, Form()] = "") -> Response:
    found = _usable(portal, request, token, "nda_accept")
    if isinstance(found, Response):
        return found
    link, _ = found
    if link.nda_text is None:
        return RedirectResponse(f"/s/{token}", status_code=303)
    if accept != "yes":
        _used(portal, request, link, "nda_accept", "bad_request")
        return RedirectResponse(f"/s/{token}", status_code=303)
    # What was accepted is recorded by its digest: the text itself is in the link's row.
    _used(portal, request, link, "nda_accept", nda_sha256=sha256_hex((link.nda_text or "").encode()))
    response = RedirectResponse(f"/s/{token}", status_code=303)
    from attest.portal.sessions import set_cookie

    set_cookie(response, NDA_COOKIE, nda_cookie(portal, link), NDA_ACCEPT_S, path=f"/s/{token}")
    return response


@router.get("/s/{token}/download")
def download(request: Request, token: str, portal: PortalDep) -> Response:
    found = _usable(portal, request, token, "download")
    if isinstance(found, Response):
        return found
    link, status = found
    if not nda_accepted(portal, link, request.cookies.get(NDA_COOKIE)):
        _used(portal, request, link, "download", "nda_required")
        return _summary(portal, request, link, status, token, accepted=False, http_status=403)
    from attest.portal.share_files import shared_file

    try:
        name, media_type, data = shared_file(portal, link, status)
    except BadInput as exc:
        logger.warning("share link %s: the file cannot be prepared: %s", link.public_id, exc)
        _used(portal, request, link, "download", "error")
        return page(request, "share_gone.html.j2", status=503, outcome="error")
    with portal.db() as s:  # one UPDATE, no read first: safe in a deferred transaction
        s.execute(update(ShareLink).where(ShareLink.public_id == link.public_id).values(uses=ShareLink.uses + 1))
    _used(portal, request, link, "download", bytes=len(data), sha256=sha256_hex(data))
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# The staff pages (sales and admin) live apart: they need the sign-in machinery, the recipient's
# pages above need none.
from attest.portal import share_admin  # noqa: E402

router.include_router(share_admin.router)
