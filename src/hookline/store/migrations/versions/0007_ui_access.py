"""dashboard sessions and consumer-portal credentials; attempt request/response headers

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_headers", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("response_headers", sa.Text(), nullable=True))
    op.create_table(
        "access_token",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("app_id", sa.String(length=40), nullable=True),
        sa.Column("capabilities", sa.Text(), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_access_token_app", "access_token", ["app_id", "expires_at"])
    op.create_index("ix_access_token_expires", "access_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_access_token_expires", table_name="access_token")
    op.drop_index("ix_access_token_app", table_name="access_token")
    op.drop_table("access_token")
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("response_headers")
        batch_op.drop_column("request_headers")
