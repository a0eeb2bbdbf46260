"""event types: group name, feature flags and a retry schedule of their own

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_type", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_name", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("feature_flags", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("retry_schedule", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_type", schema=None) as batch_op:
        batch_op.drop_column("retry_schedule")
        batch_op.drop_column("feature_flags")
        batch_op.drop_column("group_name")
