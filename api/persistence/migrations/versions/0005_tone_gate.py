"""The pre-send tone gate.

Each installation's gate (``tone_gate``: the issue kinds that hold a reply back, a minimum score, whether agents
may send anyway; existing rows get ``{}``, the default gate) and what happened at the gates (``tone_gate_events``:
blocked, overridden, unreachable), for supervisors.

Revision ID: 0005_tone_gate
Revises: 0004_history_locator
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_tone_gate"
down_revision = "0004_history_locator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tone_gate", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.create_table(
        "tone_gate_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("installation_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tone_gate_events", schema=None) as batch_op:
        for column in ("kind", "installation_id", "conversation_id", "agent", "occurred_at"):
            batch_op.create_index(batch_op.f(f"ix_tone_gate_events_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tone_gate_events", schema=None) as batch_op:
        for column in ("kind", "installation_id", "conversation_id", "agent", "occurred_at"):
            batch_op.drop_index(batch_op.f(f"ix_tone_gate_events_{column}"))
    op.drop_table("tone_gate_events")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_column("tone_gate")
