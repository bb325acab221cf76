"""The portal's own tables, in the evidence log's database (same engine, same migrations:
evidence/migrations/versions/0002_portal.py). Secrets are never stored: session ids, reset
links, share links and API tokens are kept as SHA-256 digests of random tokens, passwords as
argon2 hashes. Times are RFC 3339 UTC strings, as in the evidence tables.

The audit trail's rows (`portal_audit`) are a staging area: each is sealed into the evidence log
(an `portal.audit` record, Merkle-hashed and covered by a signed checkpoint) and marks which
leaf holds it; the evidence log, not this table, is the append-only record.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence.models import Base

ROLES = ("admin", "sales", "tenant")


class Account(Base):
    """A local account. `tenant_id` is set for (and only for) role `tenant`: such a user sees
    that tenant's documents and nothing else."""

    __tablename__ = "portal_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | sales | tenant
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # None: set by a reset link
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, reset by a success
    locked_until: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[str] = mapped_column(String(20))
    password_changed_at: Mapped[str | None] = mapped_column(String(20), nullable=True)


class PortalSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    copy of the database opens no session. A new id is issued at login (no fixation)."""

    __tablename__ = "portal_sessions"
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(20))
    last_seen_at: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[str] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(64))


class LoginAttempt(Base):
    """Every login attempt, for rate limiting by client address (per-account lockout is on the
    account row)."""

    __tablename__ = "portal_login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[str] = mapped_column(String(20), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)


class ResetToken(Base):
    """A one-time password-set link an admin issued (`attest users reset-link`)."""

    __tablename__ = "portal_reset_tokens"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portal_accounts.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[str] = mapped_column(String(20))
    used_at: Mapped[str | None] = mapped_column(String(20), nullable=True)


class ShareLink(Base):
    """A link sales hand a tender board: one document (or one pack of it), expiring, revocable,
    with an optional click-through NDA. `public_id` names it in the audit trail (never the token)."""

    __tablename__ = "portal_share_links"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # pdf | tender-pack | audit-pack
    recipient: Mapped[str] = mapped_column(String(120))
    nda_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[str] = mapped_column(String(20))
    revoked_at: Mapped[str | None] = mapped_column(String(20), nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(Base):
    """A per-tenant token for the JSON API (a provider embedding attestations in its own customer
    area). Shown once at creation; stored as SHA-256."""

    __tablename__ = "portal_api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(120))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(20))
    last_used_at: Mapped[str | None] = mapped_column(String(20), nullable=True)
    revoked_at: Mapped[str | None] = mapped_column(String(20), nullable=True)


class AuditEntry(Base):
    """One portal event before (and after) it is sealed into the evidence log."""

    __tablename__ = "portal_audit"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(32))  # login | logout | download | share_use | verify | …
    outcome: Mapped[str] = mapped_column(String(16))  # ok | denied | not_found | bad_request | …
    account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a share link's or token's public id
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    client: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON object
    sealed_idx: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
