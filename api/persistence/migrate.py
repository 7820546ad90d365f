"""Schema migrations (Alembic): every database is brought to the newest schema before it is used.

A database made by a Tactful from before migrations (its tables, no ``alembic_version``) is stamped at the base
revision, the schema it has, then upgraded. On PostgreSQL an advisory lock makes concurrent starts (several web
workers, a job worker) migrate one at a time. ``tactful migrate`` runs the same upgrade on its own.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASE_REVISION = "0001_base"
LOCK_ID = 0x7AC7F01  # the advisory lock Tactful's migrations take on PostgreSQL


def ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What autogenerate compares: Tactful's tables (the indexing record manager keeps its own in the database)."""
    return not (type_ == "table" and reflected and compare_to is None)


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest revision; the revision it is at afterwards."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and "documents" in tables:
            command.stamp(config, BASE_REVISION)
        command.upgrade(config, "head")
        return current_revision(connection)


def current_revision(connection: Connection) -> str:
    return MigrationContext.configure(connection).get_current_revision() or ""
