"""Payload retention: a record whose payload was removed keeps its row and leaf hash, its body
becomes empty and `redacted_at` says when (evidence/retention.py). A plain nullable column added
in place: no table rebuild on SQLite, no rewrite on PostgreSQL, existing rows stay NULL.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("records", sa.Column("redacted_at", sa.String(20), nullable=True))


def downgrade() -> None:
    # Redacted bodies cannot come back: downgrading leaves their rows failing their leaf hash.
    with op.batch_alter_table("records") as batch:
        batch.drop_column("redacted_at")
