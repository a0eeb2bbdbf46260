"""polling endpoints' consumer cursors

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_consumer",
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("consumer_id", sa.String(length=256), nullable=False),
        sa.Column("cursor", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "endpoint_id", "consumer_id"),
    )
    op.create_index("ix_poll_consumer_endpoint", "poll_consumer", ["endpoint_id"])


def downgrade() -> None:
    op.drop_index("ix_poll_consumer_endpoint", table_name="poll_consumer")
    op.drop_table("poll_consumer")
