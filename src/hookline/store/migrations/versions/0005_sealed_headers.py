"""credential headers of received requests sealed at rest

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LIVE = sa.text("sealed_headers IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("inbound_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_headers", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_inbound_request_sealed",
            ["id"],
            unique=False,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_request", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_request_sealed")
        batch_op.drop_column("sealed_headers")
