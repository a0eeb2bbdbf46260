"""scheduled sends: a message's deliverAt

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


def downgrade() -> None:
    op.drop_column("message", "deliver_at")
