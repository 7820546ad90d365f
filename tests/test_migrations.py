"""Schema migrations on SQLite and PostgreSQL: a database from before migrations is upgraded with its data kept,
every migration is reversible, and the models never drift from the migrations."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from api.cli import main
from api.persistence.database import Database
from api.persistence.migrate import BASE_REVISION, _config, current_revision, ours
from api.persistence.tables import Base

HEAD = "0008_installation_scope"


def _made_before_migrations(url: str) -> None:
    """The database as Tactful 0.4.0 left it: its tables (the base revision's), no alembic_version, some data."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_config(connection), BASE_REVISION)
        connection.execute(sa.text("DROP TABLE alembic_version"))
        connection.execute(
            sa.text(
                "INSERT INTO conversations (id, data, language, contact_level, agent, updated_at) "
                "VALUES ('old-1', '{\"id\": \"old-1\", \"messages\": []}', 'it', 'low_touch', 'ag', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()


def test_a_database_from_before_migrations_is_upgraded_with_its_data(database_url: str) -> None:
    _made_before_migrations(database_url)
    db = Database(database_url)
    assert db.revision == HEAD
    with db.engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert {"follow_ups", "resolutions", "surveys"} <= tables
        assert connection.execute(sa.text("SELECT language FROM conversations WHERE id = 'old-1'")).scalar() == "it"
    db.dispose()
    assert Database(database_url).revision == HEAD  # opening again changes nothing


def test_every_migration_is_reversible(database_url: str) -> None:
    db = Database(database_url)
    with db.engine.begin() as connection:
        command.downgrade(_config(connection), "base")
        assert current_revision(connection) == ""
        assert "documents" not in sa.inspect(connection).get_table_names()
        command.upgrade(_config(connection), "head")
        assert current_revision(connection) == HEAD
    db.dispose()


def test_the_models_match_the_migrations(database_url: str) -> None:
    """A change to api/persistence/tables.py without its migration fails here."""
    db = Database(database_url)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": ours})
        assert compare_metadata(context, Base.metadata) == []
    db.dispose()


def test_tactful_migrate_upgrades_the_configured_database(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _made_before_migrations(url)
    monkeypatch.setenv("TACTFUL_DATABASE_URL", url)
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    assert main(["migrate"]) == 0
    assert f"database at revision {HEAD}" in capsys.readouterr().out
