"""Two small portal tables: `portal_secrets`, keys the portal makes for itself once and every
worker shares (the NDA-acceptance cookie's HMAC key, attest/portal/keys.py), and
`portal_rate_events`, the uses of a rate-limited action per client address (verification
uploads, attest/portal/ratelimit.py). Neither is evidence: nothing here is hashed into the log.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
    )
    op.create_table(
        "portal_rate_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", sa.String(20), nullable=False),
    )
    op.create_index("ix_portal_rate_events_window", "portal_rate_events", ["action", "client", "at"])
    op.create_index("ix_portal_rate_events_at", "portal_rate_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_portal_rate_events_at", "portal_rate_events")
    op.drop_index("ix_portal_rate_events_window", "portal_rate_events")
    op.drop_table("portal_rate_events")
    op.drop_table("portal_secrets")
