"""The bundled demo knowledge base: indexed on first start of ``tactful serve --demo``."""

from __future__ import annotations

import logging
import threading
import time

from api.container import DEMO_KB, Container
from api.persistence import knowledge_repo as repo
from kb_index.loaders import iter_paths, load_path

log = logging.getLogger("tactful")


def ensure_demo_indexed(container: Container) -> str | None:
    """Queue the demo documents when the knowledge base is empty; the job id, or None when nothing to do."""
    with container.db.session() as s:
        _, total = repo.list_documents(s, limit=1, offset=0)
    if total:
        return None
    docs = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
    for doc in docs:
        doc.source = f"demo_kb/{doc.id}.md"
    job = container.knowledge.submit_documents(docs)
    job_id = str(job["job_id"])
    print(f"Indexing the demo knowledge base ({len(docs)} documents, 10-30 s the first time)...", flush=True)
    threading.Thread(target=_announce, args=(container, job_id), name="tactful-demo-ready", daemon=True).start()
    return job_id


def _announce(container: Container, job_id: str) -> None:
    """Say when the demo knowledge base is ready: until then suggestions may miss what is not indexed yet."""
    started = time.monotonic()
    try:
        job = container.knowledge.wait(job_id, timeout=3600)
    except TimeoutError:
        return
    if job["status"] == "succeeded":
        print(f"Demo knowledge base ready ({time.monotonic() - started:.0f} s): suggestions now cite it.", flush=True)
    else:
        print(f"Indexing the demo knowledge base failed: {job.get('error')}", flush=True)
