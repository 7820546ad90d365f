from __future__ import annotations

from pathlib import Path

import pytest

from api.persistence import knowledge_repo as repo
from api.persistence.database import Database
from api.settings import ConfigError, Settings
from tests.conftest import make_settings


def test_a_job_interrupted_by_a_crash_is_failed_on_restart_and_queued_ones_rerun(
    tmp_path: Path, database_url: str
) -> None:
    from api.container import Container

    db = Database(database_url)
    with db.session() as s:
        running = repo.create_job(s, kind="reindex_incremental", payload={}, total=0)
        running.status = "running"
        queued = repo.create_job(s, kind="reindex_incremental", payload={}, total=0)
        running_id, queued_id = running.id, queued.id
    db.dispose()
    container = Container.build(make_settings(tmp_path / "data", database_url=database_url))
    container.start()
    try:
        failed = container.knowledge.job(running_id)
        assert failed["status"] == "failed" and "interrupted" in str(failed["error"])
        assert container.knowledge.wait(queued_id, timeout=60)["status"] == "succeeded"
        rerun = container.knowledge.submit_reindex("incremental")
        assert container.knowledge.wait(rerun, timeout=60)["status"] == "succeeded"
    finally:
        container.stop()


def test_keys_are_parsed_and_checked() -> None:
    s = Settings(api_keys="agent:aaaaaaaa,admin:bbbbbbbb", _env_file=None)  # type: ignore[call-arg]
    assert s.keys() == {"aaaaaaaa": "agent", "bbbbbbbb": "admin"}
    with pytest.raises(ValueError, match="chef"):
        Settings(api_keys="chef:aaaaaaaa", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="8 characters"):
        Settings(api_keys="agent:short", _env_file=None)  # type: ignore[call-arg]


def test_the_service_refuses_to_start_without_keys_unless_dev_open(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TACTFUL_API_KEYS"):
        make_settings(tmp_path, api_keys="").check_can_serve()
    make_settings(tmp_path, api_keys="", dev_open=True).check_can_serve()


def test_environment_variables_configure_the_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_CHROMA_URL", "http://127.0.0.1:9999")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.data_dir == tmp_path and s.chroma_url == "http://127.0.0.1:9999"
    assert s.database == f"sqlite:///{tmp_path / 'tactful.db'}"


def test_the_reindex_grace_reaches_the_knowledge_service(tmp_path: Path) -> None:
    from api.container import Container

    container = Container.build(make_settings(tmp_path, reindex_grace_s=900, tone_learned_sarcasm=False))
    try:
        assert container.knowledge.retire_grace_s == 900
    finally:
        container.stop()
    with pytest.raises(ValueError, match="reindex_grace_s"):
        make_settings(tmp_path, reindex_grace_s=-1)


def test_every_setting_is_in_env_example() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = {line.lstrip("# ").partition("=")[0] for line in example.splitlines() if "=" in line}
    cli_only = {"demo"}  # `tactful serve --demo`
    missing = [name for name in Settings.model_fields if f"TACTFUL_{name.upper()}" not in documented]
    assert sorted(set(missing) - cli_only) == []
