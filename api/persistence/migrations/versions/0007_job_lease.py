"""Indexing jobs on a queue: a worker's lease on a job row.

``jobs.lease_owner`` and ``jobs.lease_until`` (nullable) hold which ``tactful worker`` runs a job and until when its
claim lasts without a heartbeat; ``jobs.attempts`` counts the workers that started it. Jobs run in process (no queue
configured) leave them empty.

Revision ID: 0007_job_lease
Revises: 0006_app_public_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_job_lease"
down_revision = "0006_app_public_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
