"""Each installation's knowledge-base scope and contact-level rules; the installation a knowledge gap came from.

``installations.knowledge_scope`` (the scope tags of the documents its agents see; existing rows get ``[]``: every
document, as before) and ``installations.contact_rules`` (``{}``: no rules, as before). ``gaps.installation_id``
(nullable: gaps recorded before, or without an installation) lets the gaps report be read per installation.

Revision ID: 0008_installation_scope
Revises: 0007_job_lease
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_installation_scope"
down_revision = "0007_job_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("knowledge_scope", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("contact_rules", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("gaps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("installation_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_gaps_installation_id"), ["installation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gaps_installation_id"))
        batch_op.drop_column("installation_id")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_column("contact_rules")
        batch_op.drop_column("knowledge_scope")
