"""Alembic's environment: migrations run on the connection Tactful hands over (``api.persistence.migrate``)."""

from __future__ import annotations

from alembic import context

from api.persistence.migrate import ours
from api.persistence.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, include_object=ours)
with context.begin_transaction():
    context.run_migrations()
