"""API keys and integration keys on the access-token table

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("hint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("feature_flags", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("feature_flags")
        batch_op.drop_column("hint")
        batch_op.drop_column("name")
