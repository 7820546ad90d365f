"""Helpdesk installations.

Tenants: kind, address, allowed frame origins, encrypted secrets.

Revision ID: 0003_installations
Revises: 0002_case_journey
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_installations"
down_revision = "0002_case_journey"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("api_token", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_installations_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installations_kind"))

    op.drop_table("installations")
