"""A full re-index killed half way (SIGKILL, as a crash or an OOM kill would) loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from api.container import Container
from api.persistence import knowledge_repo as repo
from tests.conftest import make_settings
from tests.factories import small_kb

CHILD = textwrap.dedent(
    """
    import sys, time
    from dataclasses import replace
    from tests.conftest import make_settings, index_small_kb
    from tests.factories import small_kb
    from api.container import Container

    container = Container.build(make_settings(__import__("pathlib").Path(sys.argv[1])))
    container.start()
    index_small_kb(container)
    extra = [replace(d, id=f"{d.id}-{i}", title=f"{d.title} {i}") for i in range(12) for d in small_kb()]
    job = container.knowledge.submit_documents(extra)
    container.knowledge.wait(job["job_id"], timeout=600)
    print("READY", container.knowledge.submit_reindex("full"), flush=True)
    time.sleep(600)
    """
)


def test_killed_full_reindex_leaves_the_previous_index_serving(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("READY"), line
        job_id = line.split()[1]
        settings = make_settings(data)
        container = Container.build(settings)  # a second reader on the same database, to watch progress
        deadline = time.monotonic() + 300
        while True:
            with container.db.session() as s:
                job = s.get(repo.JobRow, job_id)
                running = job is not None and job.status == "running" and job.done >= 2
            if running:
                break
            assert time.monotonic() < deadline, "the re-index never got going"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        container.db.dispose()
    finally:
        if child.poll() is None:
            child.kill()

    restarted = Container.build(make_settings(data))
    restarted.start()
    try:
        job = restarted.knowledge.job(job_id)
        assert job["status"] == "failed" and "interrupted" in str(job["error"])
        active = restarted.knowledge.active_collection
        assert active.endswith("_v1")
        assert restarted.knowledge.indexer.store.names() == [active]  # the half-built collection is gone
        expected = 13 * len(small_kb())
        with restarted.db.session() as s:
            assert repo.list_documents(s, limit=1, offset=0)[1] == expected
        hits = restarted.knowledge.search("il pacco è in ritardo", k=3, language="it")
        assert hits and hits[0].document_id.startswith("late-parcel-en")
        rerun = restarted.knowledge.submit_reindex("full")
        assert restarted.knowledge.wait(rerun, timeout=600)["status"] == "succeeded"
        assert restarted.knowledge.active_collection.endswith("_v3")
    finally:
        restarted.stop()
