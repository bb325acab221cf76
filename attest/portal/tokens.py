"""Per-tenant API tokens for the JSON API (attest/portal/api.py).

A token reads ``atk_<public id>_<secret>``: the public id names it in the audit trail and in
`attest tokens list`, the secret is never stored — only the SHA-256 of the whole token, so a copy
of the database authenticates nobody. The token is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from attest.portal.models import ApiToken

PREFIX = "atk_"
_PUBLIC_ID = re.compile(r"^[0-9a-f]{16}$")
_TOKEN = re.compile(r"^atk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def public_id_of(token: str) -> str | None:
    """The public id a well-formed token names (for the audit trail), else None."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


@dataclass(frozen=True)
class TokenInfo:
    public_id: str
    tenant_id: str
    label: str
    created_by: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.public_id, row.tenant_id, row.label, row.created_by, row.created_at, row.last_used_at,
                     row.revoked_at)


def create_token(s: Session, tenant_id: str, label: str, created_by: str, now: str) -> tuple[str, TokenInfo]:
    """A new token for *tenant_id*: (the token, to be shown once; its stored description)."""
    public_id = secrets.token_hex(8)
    token = f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}"  # 256 random bits
    row = ApiToken(token_hash=token_hash(token), public_id=public_id, tenant_id=tenant_id, label=label[:120],
                   created_by=created_by[:64], created_at=now)
    s.add(row)
    s.flush()
    return token, _info(row)


def list_tokens(s: Session) -> list[TokenInfo]:
    return [_info(r) for r in s.scalars(select(ApiToken).order_by(ApiToken.tenant_id, ApiToken.created_at))]


def revoke_token(s: Session, public_id: str, now: str) -> TokenInfo | None:
    """Revoke the token *public_id* (idempotent: an already revoked one keeps its first date);
    None if there is no such token."""
    if not _PUBLIC_ID.match(public_id):
        return None
    row = s.scalars(select(ApiToken).where(ApiToken.public_id == public_id)).first()
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now
    return _info(row)


def authenticate(s: Session, token: str, now: str) -> TokenInfo | None:
    """The live token *token* is (its last use set to *now*), else None: malformed, unknown or
    revoked. Looked up by its hash, so no secret is ever compared character by character."""
    if not _TOKEN.match(token):
        return None
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or not secrets.compare_digest(row.public_id, token[4:20]):
        return None
    row.last_used_at = now
    return _info(row)
