"""The customer portal's tables (attest/portal/models.py): accounts, sessions, login attempts,
reset links, share links, API tokens and the audit staging rows.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True, index=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.String(20), nullable=True),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("password_changed_at", sa.String(20), nullable=True),
    )
    op.create_table(
        "portal_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("portal_accounts.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("last_seen_at", sa.String(20), nullable=False),
        sa.Column("expires_at", sa.String(20), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
    )
    op.create_table(
        "portal_login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False, index=True),
        sa.Column("at", sa.String(20), nullable=False, index=True),
        sa.Column("ok", sa.Boolean, nullable=False),
    )
    op.create_table(
        "portal_reset_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("portal_accounts.id"), nullable=False, index=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("expires_at", sa.String(20), nullable=False),
        sa.Column("used_at", sa.String(20), nullable=True),
    )
    op.create_table(
        "portal_share_links",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("document_id", sa.String(32), nullable=False, index=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(120), nullable=False),
        sa.Column("nda_text", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("expires_at", sa.String(20), nullable=False),
        sa.Column("revoked_at", sa.String(20), nullable=True),
        sa.Column("uses", sa.Integer, nullable=False),
    )
    op.create_table(
        "portal_api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("last_used_at", sa.String(20), nullable=True),
        sa.Column("revoked_at", sa.String(20), nullable=True),
    )
    op.create_table(
        "portal_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(20), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("link", sa.String(32), nullable=True),
        sa.Column("tenant_id", sa.String(64), nullable=True, index=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("sealed_idx", sa.BigInteger, nullable=True, index=True),
    )


def downgrade() -> None:
    for table in ("portal_audit", "portal_api_tokens", "portal_share_links", "portal_reset_tokens",
                  "portal_login_attempts", "portal_sessions", "portal_accounts"):
        op.drop_table(table)
