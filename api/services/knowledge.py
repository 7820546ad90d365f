"""The knowledge base as the service runs it: durable jobs, a serving collection, and the retriever the engine uses.

Jobs run one at a time. Their rows are the source of truth. With no queue configured they run on a thread of the
web process, and a job left running by a crash is failed at the next start. With a queue (``TACTFUL_QUEUE_URL``)
the web process only sends their ids, and ``tactful worker`` runs them under a lease on the row (``run_queued``): a
worker killed mid-job leaves the lease to expire and another worker runs the job again. A document's row is written
only once its chunks are indexed, and a full re-index builds a new collection, checks it, and only then becomes the
one serving. Every process serving search follows the shared index version (``TACTFUL_REDIS_URL``): when a job
elsewhere changed some documents it reads only their chunks (``HybridRetriever.update``, from the version's recorded
change), and it reloads the whole collection after a full re-index or when it cannot know what changed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.persistence import knowledge_repo as repo
from api.persistence.database import Database
from api.persistence.tables import JobRow, utcnow
from api.queue import JobQueue
from api.shared_state import IndexChange, SharedVersion
from assist.errors import InvalidInput, KnowledgeBaseUnavailable, NotFound
from assist.escalation import POLICY_KIND as ESCALATION_POLICY_KIND
from assist.language import detect_language
from assist.models import KnowledgeState, Passage
from kb_index.chunking import chunk_document
from kb_index.documents import SourceDocument
from kb_index.embeddings import embed_queries_many, embed_turns
from kb_index.errors import KnowledgeError
from kb_index.indexing import ChunkCounts, Indexer, collection_name
from kb_index.retrieval import Filters, Hit, HybridRetriever
from kb_index.store import COLLECTION_PREFIX, StoredChunk
from kb_index.versions import (
    MAX_DOCUMENTS,
    free_documents,
    group_versions,
    keep_found_version,
    own_topic,
    stored_profiles,
    with_found_version,
)

log = logging.getLogger("tactful.knowledge")
PROBE_QUERY = "refund"
# A collection a full re-index replaced in a worker is dropped this long after the switch: web processes serve it
# until they have followed the switch (about a second, plus the time to load the new one: 3.5 min at 300k chunks,
# docs/benchmarks.md Scale). TACTFUL_REINDEX_GRACE_S.
RETIRE_GRACE_S = 120.0
# A process this many versions behind reloads the whole collection rather than read each version's change.
MAX_CHANGES_FOLLOWED = 256
FailureHook = Callable[[str, int], None]


def passage_from_hit(hit: Hit, *, indexed_at: str = "") -> Passage:
    """A retrieval hit as the engine sees it, with the freshness of its document."""
    fields = {name: getattr(hit, name) for name in Passage.model_fields if hasattr(hit, name)}
    return Passage(**fields, indexed_at=indexed_at)


def _doc_payload(doc: SourceDocument) -> dict[str, Any]:
    return asdict(doc)


@dataclass(frozen=True)
class Lease:
    """A queue worker's terms for holding a job: its name, how long a claim lasts unrenewed, how many tries a job gets."""

    owner: str
    seconds: float
    max_attempts: int


class LeaseLost(Exception):
    """Another worker took the job over (this one could not renew its lease in time): stop without writing."""


class _LeaseKeeper:
    """Renews a lease every third of its length on a thread; ``lost`` is set once it could not."""

    def __init__(self, db: Database, job_id: str, lease: Lease) -> None:
        self.db, self.job_id, self.lease = db, job_id, lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"tactful-lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease.seconds / 3):
            try:
                with self.db.session() as s:
                    held = repo.renew_lease(s, self.job_id, owner=self.lease.owner, lease_s=self.lease.seconds)
                    # Not held because this worker just recorded the job's end: nothing was lost.
                    ended_here = not held and repo.finished_by(s, self.job_id, self.lease.owner)
            except SQLAlchemyError as exc:  # the database is away: try again; past the lease, another worker may run it
                log.warning("job %s: cannot renew the lease (%s)", self.job_id, exc)
                continue
            if held:
                continue
            if not ended_here:
                log.warning("job %s: lease lost to another worker", self.job_id)
                self.lost.set()
            return


class KnowledgeService:
    def __init__(
        self,
        db: Database,
        indexer: Indexer,
        retriever: HybridRetriever,
        *,
        job_queue: JobQueue | None = None,
        shared: SharedVersion | None = None,
        serving: bool = True,
        follow_every_s: float = 1.0,
        retire_grace_s: float = RETIRE_GRACE_S,
    ) -> None:
        """``job_queue``: send jobs there instead of running them on a thread. ``shared``: the index version every
        process follows. ``serving``: ``False`` in ``tactful worker``, which runs jobs and never searches.
        ``retire_grace_s``: how long a collection a full re-index replaced is kept after the switch."""
        self.db = db
        self.indexer = indexer
        self.retriever = retriever
        self.job_queue = job_queue
        self.shared = shared
        self.serving = serving
        self.follow_every_s = follow_every_s
        self._seen_version: int | None = None
        self._in_flight: tuple[int, tuple[str, int, int] | None] = (0, None)  # with a queue: read from the rows
        self._follower: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lease_lost: threading.Event | None = None  # set while a queued job runs here
        self._unpublished = False  # a change Redis could not be told about: told at the next chance
        self._change: IndexChange | None = None  # the documents the running job changes (none: it may change any)
        self._missed = False  # Redis was away: changes may have gone unheard, reload when it is back
        self.retire_grace_s = retire_grace_s
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._indexed_at: dict[str, str] = {}
        self._escalation_policies: list[tuple[tuple[str, ...], str]] = []  # (scope tags, text), by document id
        self._version = 0  # bumped whenever what search may find changed (a job ran, a document was deleted)
        self._idle = threading.Event()
        self._idle.set()
        self._write_lock = threading.Lock()  # one writer: a job, or a delete
        self.failure_hook: FailureHook | None = None  # tests: raise inside a job after N documents
        # The job running now and its progress (documents done, of total), for Assistance.knowledge.
        self._running: tuple[str, int, int] | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        with self.db.session() as s:
            active = repo.get_state(s, repo.ACTIVE_KEY)
            if active is None:
                active = collection_name(1)
                repo.set_state(s, repo.ACTIVE_KEY, active)
                repo.set_state(s, repo.GENERATION_KEY, "1")
            # With a queue, running jobs belong to the workers (and their leases), not to this process.
            pending = repo.fail_interrupted(s) if self.job_queue is None else []
        if self.job_queue is None:
            self._drop_unfinished_builds(active)
        if not self.serving:
            return
        self._seen_version = self.shared.read() if self.shared is not None else None
        self.retriever.load(active)
        self._refresh_freshness()
        if self.job_queue is None:
            self._thread = threading.Thread(target=self._work, name="tactful-jobs", daemon=True)
            self._thread.start()
            for job_id in pending:
                self._enqueue(job_id)
        if self.job_queue is not None or self.shared is not None:
            self.follow()
            self._follower = threading.Thread(target=self._follow, name="tactful-index-version", daemon=True)
            self._follower.start()

    def _drop_unfinished_builds(self, active: str, *, unfinished: bool = True) -> None:
        """A full re-index killed half way leaves a collection that never served: remove it (``unfinished``; only
        when no job runs). One a re-index replaced in a worker is removed once the other processes had time to move
        off it (``RETIRE_GRACE_S``)."""
        with self.db.session() as s:
            retired = repo.retired_collections(s)
        now = utcnow()
        for name in self.indexer.store.names():
            if not name.startswith(COLLECTION_PREFIX) or name == active:
                continue
            if name in retired and (now - retired[name]).total_seconds() < self.retire_grace_s:
                continue
            if name in retired or unfinished:
                log.info("dropping %s, %s", name, "replaced by a re-index" if name in retired else "left unfinished")
                self.indexer.drop(name)
                with self.db.session() as s:
                    repo.forget_retired(s, name)

    def drop_retired(self) -> None:
        """Drop the collections re-indexes replaced, once past their grace (a worker's housekeeping)."""
        self._drop_unfinished_builds(self._write_collection(), unfinished=False)

    def stop(self) -> None:
        self._stopping.set()
        if self._follower:
            self._follower.join(timeout=10)
            self._follower = None
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def active_collection(self) -> str:
        return self.retriever.collection

    # -- requests ---------------------------------------------------------------------------------
    def submit_documents(self, docs: list[SourceDocument]) -> dict[str, Any]:
        seen: set[str] = set()
        for i, doc in enumerate(docs):
            if doc.id in seen:
                raise InvalidInput(f"document id {doc.id!r} appears twice in one request", field=f"documents.{i}.id")
            seen.add(doc.id)
            if not doc.language:
                doc.language = detect_language(f"{doc.title}\n{doc.text[:2000]}")
        with self.db.session() as s:
            job = repo.create_job(
                s, kind="upsert", payload={"documents": [_doc_payload(d) for d in docs]}, total=len(docs)
            )
            job_id = job.id
        self._submit(job_id)
        return {"job_id": job_id, "document_ids": [d.id for d in docs]}

    def submit_reindex(self, mode: str) -> str:
        with self.db.session() as s:
            total = len(repo.all_documents(s))
            job_id = repo.create_job(s, kind=f"reindex_{mode}", payload={}, total=total).id
        self._submit(job_id)
        return job_id

    def delete_document(self, document_id: str) -> None:
        """Remove a document and its chunks now (waits for a running job to finish first)."""
        with self._write_lock, self.db.session() as s:
            row = s.get(repo.DocumentRow, document_id)
            if row is None:
                raise NotFound(f"no document with id {document_id!r}", field="id")
            collection = self._write_collection()
            self.indexer.delete(collection, [document_id])
            s.delete(row)
        self._load(collection, [document_id])
        self._refresh_freshness()
        self._publish(IndexChange(collection, (document_id,)))

    def job(self, job_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"no job with id {job_id!r}", field="job_id")
            return repo.job_json(row)

    def wait(self, job_id: str, *, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")

    # -- retrieval --------------------------------------------------------------------------------
    def search(
        self, query: str, *, k: int = 5, language: str | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        lang = language or detect_language(query)
        hits = self.retriever.search(query, k=k, language=lang, filters=filters)
        return [self._passage(h) for h in hits]

    def embed_query(self, text: str) -> np.ndarray:
        """The language-neutral query vector of ``text`` (as retrieval uses it)."""
        return embed_turns(self.retriever.store.embeddings, text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``embed_query`` of each text, one row each; lines not cached are embedded in one batch."""
        return embed_queries_many(self.retriever.store.embeddings, texts)

    def _passage(self, hit: Hit) -> Passage:
        return passage_from_hit(hit, indexed_at=self._indexed_at.get(hit.document_id, ""))

    def queue_depth(self) -> float:
        """Indexing jobs waiting or running (for the metrics)."""
        if self.job_queue is not None:
            return float(self._in_flight[0])
        return float(self._queue.qsize() + (self._running is not None))

    def version(self) -> int:
        """The knowledge base's version in this process: answers kept for one version are stale at the next."""
        return self._version

    def escalation_policy(self, scope: tuple[str, ...] | None = None) -> str | None:
        """The company's escalation policy (its documents of kind ``escalation_policy``), as last indexed; with a
        ``scope``, only the documents tagged with one of its tags."""
        texts = [text for tags, text in self._escalation_policies if scope is None or set(tags) & set(scope)]
        return "\n\n".join(texts) or None

    def _refresh_freshness(self) -> None:
        with self.db.session() as s:
            self._indexed_at = repo.indexed_at_map(s)
            kind = repo.DocumentRow.kind == ESCALATION_POLICY_KIND
            policies = [repo.to_source(r) for r in s.scalars(select(repo.DocumentRow).where(kind))]
        self._escalation_policies = [(d.scopes, d.text) for d in sorted(policies, key=lambda d: d.id)]
        self._version += 1

    # -- following the other processes -----------------------------------------------------------
    def _follow(self) -> None:
        while not self._stopping.wait(self.follow_every_s):
            self.follow()

    def follow(self) -> None:
        """Catch up with the other processes: the jobs in flight (with a queue) and the shared index version. Never
        raises: whatever cannot be read now is read at the next tick, and search keeps the index it has."""
        try:
            with self.db.session() as s:
                active = repo.get_state(s, repo.ACTIVE_KEY)
                if self.job_queue is not None:
                    self._in_flight = repo.jobs_in_flight(s)
            self.retry_publish()
            version = self.shared.read() if self.shared is not None else None
            # A full re-index elsewhere switches the collection in the database: followed even without Redis.
            stale = active is not None and active != self.active_collection
            if version is None:
                self._missed = self._missed or self.shared is not None
            else:
                stale = stale or version != self._seen_version or self._missed
            if stale:
                documents = None if active != self.active_collection else self._changed_since(version)
                if documents is None:
                    self.reload_serving()
                else:
                    self._load(self.active_collection, documents)
                    self._refresh_freshness()
                if version is not None:
                    self._seen_version, self._missed = version, False
        except (SQLAlchemyError, KnowledgeError, OSError) as exc:
            log.warning("cannot follow the knowledge base's changes now: %s", exc)

    def _changed_since(self, version: int | None) -> list[str] | None:
        """The documents the versions after this process's changed in the collection it serves, or ``None`` when it
        must reload the whole collection: a version recorded no change (a full or incremental re-index, a change
        Redis was away for), its record expired, or Redis was away meanwhile (changes may have gone unheard)."""
        seen = self._seen_version
        if self.shared is None or version is None or seen is None or self._missed:
            return None
        if not seen < version <= seen + MAX_CHANGES_FOLLOWED:
            return None  # far behind, or Redis restarted empty (the version went back)
        changes = self.shared.changes(seen, version)
        if changes is None or any(c is None or c.collection != self.active_collection for c in changes):
            return None
        return sorted({document for change in changes if change for document in change.documents})

    def reload_serving(self) -> None:
        """Serve the collection the database names, as it is now (after a job in another process)."""
        self._load(self._write_collection())
        self._refresh_freshness()

    def _publish(self, change: IndexChange | None = None) -> None:
        """Tell the other processes that what search may find changed (``change``: only those documents); nothing to
        do without shared state."""
        if self.shared is None:
            return
        if self._unpublished:
            change = None  # an earlier change never reached Redis: the others must reload whole, not apply this one
        version = self.shared.bump(change)
        self._unpublished = version is None
        if version is not None and self._seen_version is not None and version == self._seen_version + 1:
            self._seen_version = version  # this process is up to date already

    def retry_publish(self) -> None:
        """Tell the other processes about a change Redis was away for (nothing when all were told). What changed is
        not kept: they reload the whole collection."""
        if self._unpublished:
            self._publish()

    def _write_collection(self) -> str:
        """The collection jobs write into: the one the database names as serving."""
        with self.db.session() as s:
            return repo.get_state(s, repo.ACTIVE_KEY) or self.active_collection

    def _load(self, collection: str, documents: Iterable[str] | None = None) -> None:
        """Serve ``collection`` as it is now: only the chunks of ``documents`` read again, or (none) all of it."""
        if not self.serving:
            return
        if documents is None:
            self.retriever.load(collection)
        else:
            self.retriever.update(collection, documents)

    # -- the worker -------------------------------------------------------------------------------
    def _submit(self, job_id: str) -> None:
        try:
            self._enqueue(job_id)
        except KnowledgeBaseUnavailable as exc:
            self._finish(job_id, status="failed", error=f"not queued: {exc.message}; submit it again")
            raise

    def _enqueue(self, job_id: str) -> None:
        if self.job_queue is not None:
            self.job_queue.send(job_id)
            return
        self._idle.clear()
        self._queue.put(job_id)

    def run_queued(self, job_id: str, *, lease: Lease) -> str:
        """Run ``job_id`` as a queue worker, if this worker can claim it (``repo.claim_job``'s outcomes, or ``ran``).

        Claimed: any collection other than the serving one was left by a re-index whose worker died (no job runs
        now, claims are exclusive), so it is dropped; the job then runs while a thread renews the lease.
        """
        with self.db.session() as s:
            outcome = repo.claim_job(
                s, job_id, owner=lease.owner, lease_s=lease.seconds, max_attempts=lease.max_attempts
            )
            job = s.get(JobRow, job_id)
            assert job is not None or outcome != "claimed"
            kind, payload, total = (job.kind, dict(job.payload), job.total) if job is not None else ("", {}, 0)
        if outcome != "claimed":
            return outcome
        self._drop_unfinished_builds(self._write_collection())
        with _LeaseKeeper(self.db, job_id, lease) as keeper:
            self._lease_lost = keeper.lost
            try:
                self._execute(job_id, kind, payload, total, owner=lease.owner)
            finally:
                self._lease_lost = None
        return "ran"

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._write_lock:
                try:
                    self._run(job_id)
                except SQLAlchemyError as exc:  # the database went away mid-job: this thread must outlive it
                    self._fail_when_reachable(job_id, exc)
            if self._queue.empty():
                self._idle.set()

    def _fail_when_reachable(self, job_id: str, exc: SQLAlchemyError) -> None:
        """Record ``job_id`` failed once the database answers again (its writes may have stopped half way; indexing
        is idempotent, so submitting it again is safe), then let the next job run."""
        log.warning("job %s: the database failed under it (%s); recording it failed once it is back", job_id, exc)
        while True:
            try:
                self._finish(
                    job_id, status="failed", error="the database was unavailable while it ran; submit it again"
                )
            except SQLAlchemyError:
                if self._stopping.wait(0.5):
                    return
            else:
                self._load_after_failure()  # serve what it wrote before it stopped
                return

    def state(self) -> KnowledgeState:
        """Whether the knowledge base is being indexed now (answers may miss what is not indexed yet), or its Chroma
        server could not be reached at the last search (answers come from this process's copy)."""
        if unavailable := self.retriever.recheck():
            message = f"knowledge base unavailable: {unavailable}; passages from this process's copy"
            return KnowledgeState(state="unavailable", message=message)
        running = self._running
        waiting = self._queue.empty()
        if self.job_queue is not None:  # the workers' jobs, as last read from their rows
            running, waiting = self._in_flight[1], self._in_flight[0] == 0
        if running is None and waiting:
            return KnowledgeState(state="ready")
        job_id, done, total = running or ("", 0, 0)
        return KnowledgeState(state="indexing", job_id=job_id, done=done, total=total)

    def _run(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            if job is None or job.status != "queued":
                return
            job.status = "running"
            kind, payload, total = job.kind, dict(job.payload), job.total
        self._execute(job_id, kind, payload, total)

    def _execute(self, job_id: str, kind: str, payload: dict[str, Any], total: int, *, owner: str = "") -> None:
        self._running = (job_id, 0, total)
        self._change = None
        try:
            counts = self._dispatch(job_id, kind, payload)
        except LeaseLost:
            log.warning("job %s: stopped, another worker runs it now", job_id)
            return
        except (KnowledgeError, InvalidInput, OSError, ValueError, RuntimeError) as exc:
            log.warning("job %s failed: %s", job_id, exc)
            self._finish(job_id, status="failed", error=str(getattr(exc, "message", exc)), owner=owner)
            self._load_after_failure()
            self._changed()  # a failed job may have changed some documents before it stopped
            return
        finally:
            self._running = None
        self._finish(job_id, status="succeeded", counts=counts, owner=owner)
        self._changed()

    def _changed(self) -> None:
        if self.serving:
            self._refresh_freshness()
        self._publish(self._change)

    def _load_after_failure(self) -> None:
        """Serve what a failed job wrote before it stopped (the documents it was changing, if it said which)."""
        if self._change is None:
            return
        try:
            self._load(self._change.collection, self._change.documents)
        except (KnowledgeError, OSError) as exc:  # search keeps the snapshot it has; other processes reload
            log.warning("cannot read the failed job's documents again: %s", exc)

    def _dispatch(self, job_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if kind == "upsert":
            return self._upsert(job_id, [SourceDocument(**d) for d in payload["documents"]])
        if kind == "reindex_incremental":
            return self._reindex_incremental(job_id)
        if kind == "reindex_full":
            return self._reindex_full(job_id)
        raise ValueError(f"unknown job kind {kind!r}")

    def _progress(self, job_id: str) -> Callable[[int], None]:
        last = [0.0]

        def report(done: int) -> None:
            if self._running is not None and self._running[0] == job_id:
                self._running = (job_id, done, self._running[2])
            if self._lease_lost is not None and self._lease_lost.is_set():
                raise LeaseLost(job_id)
            if self.failure_hook:
                self.failure_hook(job_id, done)
            now = time.monotonic()
            if now - last[0] > 0.25:
                last[0] = now
                with self.db.session() as s:
                    row = s.get(JobRow, job_id)
                    if row is not None:
                        row.done = done

        return report

    def _upsert(self, job_id: str, docs: list[SourceDocument]) -> dict[str, Any]:
        with self.db.session() as s:
            stored = repo.hashes_and_metadata(s, [d.id for d in docs])
        docs = [keep_found_version(d, *stored[d.id]) if d.id in stored else d for d in docs]
        changed = [d for d in docs if d.id not in stored or stored[d.id][0] != d.content_hash]
        collection = self._write_collection()
        self._change = IndexChange(collection, tuple(d.id for d in changed))
        chunk_counts = self.indexer.sync(collection, changed, on_document=self._progress(job_id))
        regrouped = self._group_versions(collection, docs, written=changed) if changed else {}
        self._regroup(collection, regrouped, sent={d.id for d in docs})
        self._change = IndexChange(collection, tuple(dict.fromkeys([*self._change.documents, *regrouped])))
        counts = {"added": 0, "updated": 0, "skipped": 0, "deleted": 0}
        with self.db.session() as s:
            for doc in [regrouped.get(d.id, d) for d in docs]:
                counts[repo.save_document(s, doc, chunks=len(chunk_document(doc, units=self.indexer.units)))] += 1
        self._load(collection, self._change.documents)
        return {**counts, "chunks": asdict(chunk_counts)}

    def _group_versions(
        self, collection: str, docs: Sequence[SourceDocument], *, written: Sequence[SourceDocument] = ()
    ) -> dict[str, SourceDocument]:
        """The documents, of ``docs`` or stored, whose topic found by content (``kb_index.versions``) changes, as
        they are to be stored; read from the stored vectors (``written``: those this job just indexed), over the
        whole knowledge base."""
        with self.db.session() as s:
            current = {r.id: repo.to_source(r) for r in repo.all_documents(s)}
        current.update({d.id: d for d in docs})
        if len(current) > MAX_DOCUMENTS:
            log.warning("versions not looked for by content: %d documents (at most %d)", len(current), MAX_DOCUMENTS)
            return {}
        free = free_documents(current.values())
        found: dict[str, str] = {}
        if free:
            found = group_versions(stored_profiles(self._section_vectors(collection, written), current.values()))
        regrouped = {}
        for doc in current.values():
            wanted = with_found_version(doc, found.get(doc.id, own_topic(doc)))
            if wanted.metadata != doc.metadata:
                regrouped[doc.id] = wanted
        return regrouped

    def _section_vectors(self, collection: str, written: Sequence[SourceDocument]) -> list[StoredChunk]:
        """Every document's stored section vectors: the serving snapshot's, with ``written``'s read again from Chroma
        (this job just indexed them); a process that does not serve (``tactful worker``) reads them all."""
        served = self.retriever.section_vectors(collection) if self.serving else None
        if served is None:
            return self.indexer.store.all_chunks(collection, with_embeddings=True)
        ids = {d.id for d in written}
        fresh = self.indexer.store.chunks_of(collection, sorted(ids), with_embeddings=True)
        return [c for c in served if c.metadata.get("document_id") not in ids] + fresh

    def _regroup(self, collection: str, regrouped: dict[str, SourceDocument], *, sent: set[str] | None = None) -> None:
        """Index ``regrouped`` again (their chunks carry their topic) and store the rows of those not ``sent`` in this
        job (stored documents whose versions changed: the job's own are stored and counted by the job)."""
        if not regrouped:
            return
        self.indexer.sync(collection, list(regrouped.values()))
        with self.db.session() as s:
            for doc_id, doc in regrouped.items():
                if doc_id not in (sent or set()):
                    repo.save_document(s, doc, chunks=len(chunk_document(doc, units=self.indexer.units)))

    def _reindex_incremental(self, job_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            docs = [repo.to_source(r) for r in repo.all_documents(s)]
        collection = self._write_collection()
        chunk_counts = self.indexer.sync(collection, docs, cleanup="full", on_document=self._progress(job_id))
        self._regroup(collection, self._group_versions(collection, []))  # versions found by content, looked at again
        self._load(collection)
        return _doc_counts(chunk_counts, total=len(docs))

    def _reindex_full(self, job_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            docs = [repo.to_source(r) for r in repo.all_documents(s)]
            generation = int(repo.get_state(s, repo.GENERATION_KEY) or "1") + 1
            repo.set_state(s, repo.GENERATION_KEY, str(generation))
        old, new = self._write_collection(), collection_name(generation)
        try:
            chunk_counts = self.indexer.sync(new, docs, on_document=self._progress(job_id))
            expected = sum(len(chunk_document(d, units=self.indexer.units)) for d in docs)
            self.indexer.check(new, expected_chunks=expected, probe=docs[0].title if docs else PROBE_QUERY)
        except BaseException:
            self.indexer.drop(new)
            raise
        with self.db.session() as s:
            repo.set_state(s, repo.ACTIVE_KEY, new)
            if not self.serving:  # other processes serve it until they follow the switch: dropped later
                repo.retire_collection(s, old)
        self._load(new)
        if self.serving:
            self.indexer.drop(old)
        return {"added": len(docs), "updated": 0, "skipped": 0, "deleted": 0, "chunks": asdict(chunk_counts)}

    def _finish(
        self,
        job_id: str,
        *,
        status: str,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
        owner: str = "",
    ) -> None:
        """Record how ``job_id`` ended; a queue worker (``owner``) only while it still holds the job's lease."""
        with self.db.session() as s:
            row = s.get(JobRow, job_id, with_for_update=bool(owner))
            if row is None or (owner and row.lease_owner != owner):
                return
            row.status, row.error, row.finished_at = status, error, utcnow()
            row.lease_until = None
            if counts is not None:
                row.counts = counts
                row.done = row.total


def _doc_counts(chunks: ChunkCounts, *, total: int) -> dict[str, Any]:
    """An incremental re-index touches no document rows: all are 'skipped' unless their chunks moved."""
    return {"added": 0, "updated": 0, "skipped": total, "deleted": 0, "chunks": asdict(chunks)}
