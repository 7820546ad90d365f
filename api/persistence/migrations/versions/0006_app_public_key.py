"""Agents sign in as themselves: a Zendesk installation's app public key.

``installations.app_public_key`` (PEM, nullable: not a secret) verifies the signed app JWT Zendesk opens the sidebar
with. Chatwoot's and Zammad's agents are checked through their APIs and need no new column; agent tokens are not
stored.

Revision ID: 0006_app_public_key
Revises: 0005_tone_gate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_app_public_key"
down_revision = "0005_tone_gate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_public_key", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_column("app_public_key")
