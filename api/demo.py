"""The bundled demo knowledge base: indexed on first start of ``tactful serve --demo``."""

from __future__ import annotations

import logging

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
    log.info("indexing %d demo documents (job %s)", len(docs), job["job_id"])
    return str(job["job_id"])
