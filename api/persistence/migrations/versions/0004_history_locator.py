"""Where a helpdesk conversation lives in its helpdesk.

The locator of each conversation heard from a webhook (Chatwoot's account and conversation ids, Zammad's
installation and ticket), kept so that a note can be written back to it. Existing rows get an empty one.

Revision ID: 0004_history_locator
Revises: 0003_installations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_history_locator"
down_revision = "0003_installations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history_conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locator", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("history_conversations", schema=None) as batch_op:
        batch_op.drop_column("locator")
