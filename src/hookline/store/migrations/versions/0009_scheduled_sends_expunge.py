"""scheduled sends (a message's deliverAt); routed requests by message, for expunge

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: an expand-only change the previous release keeps serving on
    op.add_column("message", sa.Column("deliver_at", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_inbound_request_msg",
        "inbound_request",
        ["msg_id"],
        sqlite_where=sa.text("msg_id IS NOT NULL"),
        postgresql_where=sa.text("msg_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_request_msg", table_name="inbound_request")
    op.drop_column("message", "deliver_at")
