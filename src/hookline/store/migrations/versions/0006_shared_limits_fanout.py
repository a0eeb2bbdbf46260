"""rate-limit buckets in the store, shared by every worker process; background fan-out

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("tokens_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "app_state",
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=True),
        sa.Column("tokens_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_table(
        "fanout",
        sa.Column("msg_id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("cursor", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("msg_id"),
    )


def downgrade() -> None:
    op.drop_table("fanout")
    op.drop_table("app_state")
    with op.batch_alter_table("endpoint_state", schema=None) as batch_op:
        batch_op.drop_column("tokens_at")
        batch_op.drop_column("tokens")
