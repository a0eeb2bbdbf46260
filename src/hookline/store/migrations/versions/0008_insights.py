"""dashboard chart rollups

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insight_rollup",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("grain_ms", sa.BigInteger(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("max_ms", sa.Integer(), nullable=False),
        sa.Column("latency", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "grain_ms", "start_ms"),
    )
    op.create_index("ix_insight_rollup_time", "insight_rollup", ["grain_ms", "start_ms"])
    op.create_table(
        "insight_cursor",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "insight_failure",
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("last_failure_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id"),
    )


def downgrade() -> None:
    op.drop_table("insight_failure")
    op.drop_table("insight_cursor")
    op.drop_index("ix_insight_rollup_time", table_name="insight_rollup")
    op.drop_table("insight_rollup")
