"""inbound sources, received requests and their dedup window; forwarded headers

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("uid", sa.String(length=256), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("dedup_window_ms", sa.BigInteger(), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id"),
        sa.UniqueConstraint("token_hash"),
        sa.UniqueConstraint("uid"),
    )
    op.create_table(
        "inbound_request",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=256), nullable=True),
        sa.Column("dedup_key", sa.String(length=256), nullable=True),
        sa.Column("msg_id", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("routed_at", sa.BigInteger(), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbound_request", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_request_source", ["source_id", "id"], unique=False)
        batch_op.create_index(
            "ix_inbound_request_unrouted", ["routed_at", "verdict", "id"], unique=False
        )
    op.create_table(
        "inbound_dedup",
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("dedup_key", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "dedup_key"),
    )
    with op.batch_alter_table("inbound_dedup", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_dedup_seen", ["seen_at"], unique=False)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", sa.Text(), nullable=True))
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forward_headers", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.drop_column("forward_headers")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("headers")
    with op.batch_alter_table("inbound_dedup", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_dedup_seen")
    op.drop_table("inbound_dedup")
    with op.batch_alter_table("inbound_request", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_request_unrouted")
        batch_op.drop_index("ix_inbound_request_source")
    op.drop_table("inbound_request")
    op.drop_table("source")
