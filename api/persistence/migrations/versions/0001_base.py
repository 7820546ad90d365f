"""The schema before migrations (0.4.0).

Documents, jobs, conversations, assists, flags, feedback, gaps, webhook deliveries and conversation history. A
database created by an earlier Tactful without migrations is stamped at this revision, then upgraded.

Revision ID: 0001_base
Revises: None
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assists",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assists_conversation_id"), ["conversation_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("contact_level", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("source_modified_at", sa.String(length=40), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_documents_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_language"), ["language"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("suggestion_id", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=20), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("final_text", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_suggestion_id"), ["suggestion_id"], unique=False)

    op.create_table(
        "flags",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("message_index", sa.Integer(), nullable=True),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("end", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("contact_level", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "kind", name="uq_flag_conversation_kind"),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flags_agent"), ["agent"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_status"), ["status"], unique=False)

    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("normalized", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=True),
        sa.Column("vector", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gaps_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_gaps_normalized"), ["normalized"], unique=False)

    op.create_table(
        "history_conversations",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("history_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_history_conversations_last_message_at"), ["last_message_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_history_conversations_resolved_at"), ["resolved_at"], unique=False)

    op.create_table(
        "history_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_history_message"),
    )
    with op.batch_alter_table("history_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_history_messages_conversation_id"), ["conversation_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    op.create_table(
        "kb_state",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("kb_state")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_created_at"))

    op.drop_table("jobs")
    with op.batch_alter_table("history_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_messages_conversation_id"))

    op.drop_table("history_messages")
    with op.batch_alter_table("history_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_history_conversations_resolved_at"))
        batch_op.drop_index(batch_op.f("ix_history_conversations_last_message_at"))

    op.drop_table("history_conversations")
    with op.batch_alter_table("gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gaps_normalized"))
        batch_op.drop_index(batch_op.f("ix_gaps_created_at"))

    op.drop_table("gaps")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_status"))
        batch_op.drop_index(batch_op.f("ix_flags_kind"))
        batch_op.drop_index(batch_op.f("ix_flags_created_at"))
        batch_op.drop_index(batch_op.f("ix_flags_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_flags_agent"))

    op.drop_table("flags")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_suggestion_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_language"))
        batch_op.drop_index(batch_op.f("ix_documents_kind"))

    op.drop_table("documents")
    op.drop_table("conversations")
    with op.batch_alter_table("assists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assists_conversation_id"))

    op.drop_table("assists")
