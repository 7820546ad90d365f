"""The same API on a Chroma server (``chroma run`` from the chromadb package), as with ``TACTFUL_CHROMA_URL``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests import test_api_knowledge as knowledge_tests
from tests.conftest import auth, make_settings
from tests.factories import conversation


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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


@pytest.fixture
def app(tmp_path: Path, chroma_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", chroma_url=chroma_url)
    with TestClient(create_app(settings)) as client:
        yield client
        # The server outlives each test: leave it empty for the next one.
        store = client.app.state.container.knowledge.indexer.store  # type: ignore[attr-defined]
        for name in store.names():
            store.drop(name)


def test_documents_lifecycle_on_a_chroma_server(app: TestClient) -> None:
    knowledge_tests.test_documents_lifecycle(app)


def test_failed_full_reindex_keeps_serving_on_a_chroma_server(app: TestClient) -> None:
    knowledge_tests.test_failed_full_reindex_leaves_the_previous_index_serving(app)


def test_assist_on_a_chroma_server(app: TestClient) -> None:
    container = app.app.state.container  # type: ignore[attr-defined]
    from tests.conftest import index_small_kb

    index_small_kb(container)
    assert not (Path(container.settings.data_dir) / "chroma").exists()  # nothing embedded
    r = app.post("/v1/assist", json={"conversation": conversation(id="srv")}, headers=auth("agent"))
    assert r.status_code == 200 and r.json()["next_steps"][0]["citations"][0]["document_id"] == "late-parcel-en"
