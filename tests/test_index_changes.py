"""Each serving process follows the others' changes by reading only the changed documents: the change of each index
version recorded in Redis beside it (``SharedVersion``), applied with ``HybridRetriever.update``; a full reload when
a version recorded no change (a re-index), when its record is gone, or after a full re-index's switch. Real Redis
(127.0.0.1:6379, a key prefix of the test's own), SQLite, embedded Chroma shared by the two services of one process.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import redis

from api.persistence import knowledge_repo as repo
from api.persistence.database import Database
from api.services.knowledge import KnowledgeService, Lease
from api.shared_state import IndexChange, SharedVersion
from kb_index.embeddings import E5Embeddings
from kb_index.indexing import Indexer
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore
from tests.conftest import REDIS_URL, make_settings
from tests.factories import small_kb


class SpyRetriever(HybridRetriever):
    """Records how each snapshot was built: ``("load", collection)`` or ``("update", document ids)``."""

    calls: list[tuple[str, Any]]

    def load(self, collection: str) -> None:
        self.calls.append(("load", collection))
        super().load(collection)

    def update(self, collection: str, document_ids: Any) -> None:
        self.calls.append(("update", sorted(document_ids)))
        super().update(collection, document_ids)


def test_the_change_of_a_version_is_recorded_with_it(prefix: str) -> None:
    shared = SharedVersion(REDIS_URL, prefix=prefix)
    first = shared.bump(IndexChange("tactful_chunks_v1", ("a", "b")))
    assert first is not None
    shared.bump()  # a change of anything (a re-index): no record
    assert shared.changes(first - 1, first + 1) == [IndexChange("tactful_chunks_v1", ("a", "b")), None]
    assert shared.changes(first + 1, first + 1) == []
    assert SharedVersion("redis://127.0.0.1:1/0", prefix=prefix).changes(0, 1) is None  # unreachable: None
    shared.close()


def test_a_web_process_reads_only_the_documents_changed_elsewhere(tmp_path: Path, prefix: str) -> None:
    settings = make_settings(tmp_path / "data", redis_url=REDIS_URL, redis_prefix=prefix, tone_learned_sarcasm=False)
    store = ChromaStore.open(data_dir=settings.data_dir, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    web_db, worker_db = Database(settings.database), Database(settings.database)
    retriever = SpyRetriever(store)
    retriever.calls = []
    web = KnowledgeService(
        web_db, Indexer(store, web_db.engine), retriever, follow_every_s=3600,
        shared=SharedVersion(REDIS_URL, prefix=prefix),
    )  # fmt: skip
    worker = KnowledgeService(
        worker_db, Indexer(store, worker_db.engine), HybridRetriever(store), serving=False,
        shared=SharedVersion(REDIS_URL, prefix=prefix),
    )  # fmt: skip
    lease = Lease(owner="test-worker", seconds=30, max_attempts=3)
    kb = {d.id: d for d in small_kb()}

    def run(kind: str, payload: dict[str, Any]) -> None:
        with worker_db.session() as s:
            job_id = repo.create_job(s, kind=kind, payload=payload, total=0).id
        assert worker.run_queued(job_id, lease=lease) == "ran"
        assert worker.job(job_id)["status"] == "succeeded"

    def found(query: str, language: str) -> list[str]:
        return [p.document_id for p in web.search(query, k=5, language=language)]

    try:
        web.start()
        worker.start()
        assert retriever.calls == [("load", "tactful_chunks_v1")]
        run("upsert", {"documents": [asdict(kb["rimborsi-it"]), asdict(kb["late-parcel-en"])]})
        web.follow()
        assert retriever.calls[-1] == ("update", ["late-parcel-en", "rimborsi-it"])
        assert found("rimborsi e resi", "it")[0] == "rimborsi-it"

        # Two versions behind (an edit and a delete): one update with both documents.
        late = kb["late-parcel-en"]
        run("upsert", {"documents": [asdict(replace(late, text=late.text + "\n\nCouriers answer claims by email."))]})
        worker.delete_document("rimborsi-it")
        web.follow()
        assert retriever.calls[-1] == ("update", ["late-parcel-en", "rimborsi-it"])
        assert "rimborsi-it" not in found("rimborso", "it")
        loaded = HybridRetriever(store)
        loaded.load(web.active_collection)
        query = "the courier answers claims by email"
        assert [h.chunk_id for h in retriever.search(query, k=5, language="en")] == [
            h.chunk_id for h in loaded.search(query, k=5, language="en")
        ]

        # A version whose record is gone (expired): the whole collection again.
        run("upsert", {"documents": [asdict(kb["contrasena-es"])]})
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(f"{prefix}:index_changes:{int(client.get(f'{prefix}:index_version') or 0)}")
        client.close()
        web.follow()
        assert retriever.calls[-1] == ("load", web.active_collection) and found("contraseña", "es")

        # A change made in this process: its own documents only, and nothing left to follow.
        web.delete_document("contrasena-es")
        assert retriever.calls[-1] == ("update", ["contrasena-es"])
        calls = len(retriever.calls)
        web.follow()
        assert len(retriever.calls) == calls

        # A re-index records no change (it may touch any document): reloaded whole; so is a full re-index's switch.
        run("reindex_incremental", {})
        web.follow()
        assert retriever.calls[-1] == ("load", web.active_collection)
        run("reindex_full", {})
        web.follow()
        assert retriever.calls[-1] == ("load", "tactful_chunks_v2") and web.active_collection == "tactful_chunks_v2"
        assert found("parcel late tracking", "en")[0] == "late-parcel-en"
    finally:
        web.stop()
        worker.stop()
        for service in (web, worker):
            assert service.shared is not None
            service.shared.close()
        web_db.dispose()
        worker_db.dispose()


def test_a_change_redis_never_heard_of_makes_the_next_one_a_full_reload(tmp_path: Path, prefix: str) -> None:
    settings = make_settings(tmp_path / "data", tone_learned_sarcasm=False)
    db = Database(settings.database)
    store = ChromaStore.open(data_dir=settings.data_dir, url="", embeddings=LanguageNeutralEmbeddings(E5Embeddings()))
    service = KnowledgeService(db, Indexer(store, db.engine), HybridRetriever(store), serving=False)
    service.shared = SharedVersion("redis://127.0.0.1:1/0", prefix=prefix)  # down
    service._publish(IndexChange("tactful_chunks_v1", ("a",)))
    service.shared = SharedVersion(REDIS_URL, prefix=prefix)  # back
    service._publish(IndexChange("tactful_chunks_v1", ("b",)))
    version = service.shared.read()
    assert version is not None and service.shared.changes(version - 1, version) == [None]  # "a" would be missed
    service.shared.close()
    db.dispose()
