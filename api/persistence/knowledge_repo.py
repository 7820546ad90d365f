"""Documents, jobs and the serving-collection pointer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.persistence.database import iso
from api.persistence.tables import DocumentRow, JobRow, StateRow, utcnow
from kb_index.documents import SourceDocument

ACTIVE_KEY = "active_collection"
GENERATION_KEY = "collection_generation"


def document_json(row: DocumentRow, *, with_text: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "language": row.language,
        "kind": row.kind,
        "version": row.version,
        "indexed_at": iso(row.indexed_at),
        "chunks": row.chunks,
        "format": row.format,
        "source": row.source,
        "source_modified_at": row.source_modified_at,
        "content_hash": row.content_hash,
        "metadata": row.meta or {},
    }
    if with_text:
        out["text"] = row.text
    return out


def to_source(row: DocumentRow) -> SourceDocument:
    return SourceDocument(
        id=row.id,
        title=row.title,
        text=row.text,
        format=row.format,
        language=row.language,
        kind=row.kind,
        source=row.source,
        source_modified_at=row.source_modified_at,
        metadata=dict(row.meta or {}),
    )


def list_documents(
    s: Session, *, limit: int, offset: int, language: str = "", kind: str = ""
) -> tuple[list[DocumentRow], int]:
    query = select(DocumentRow)
    if language:
        query = query.where(DocumentRow.language == language)
    if kind:
        query = query.where(DocumentRow.kind == kind)
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = s.scalars(query.order_by(DocumentRow.id).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def all_documents(s: Session) -> list[DocumentRow]:
    return list(s.scalars(select(DocumentRow).order_by(DocumentRow.id)).all())


def hashes_and_metadata(s: Session, ids: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each stored document's content hash and metadata, by id."""
    rows = s.execute(
        select(DocumentRow.id, DocumentRow.content_hash, DocumentRow.meta).where(DocumentRow.id.in_(ids))
    ).all()
    return {r[0]: (r[1], dict(r[2] or {})) for r in rows}


def save_document(s: Session, doc: SourceDocument, *, chunks: int) -> str:
    """Insert or replace; returns "added", "updated" or "skipped" (same content)."""
    row = s.get(DocumentRow, doc.id)
    digest = doc.content_hash
    if row is not None and row.content_hash == digest:
        row.chunks = chunks
        return "skipped"
    values = {
        "title": doc.title,
        "text": doc.text,
        "format": doc.format,
        "language": doc.language,
        "kind": doc.kind,
        "source": doc.source,
        "source_modified_at": doc.source_modified_at,
        "meta": doc.metadata,
        "content_hash": digest,
        "chunks": chunks,
        "indexed_at": utcnow(),
    }
    if row is None:
        s.add(DocumentRow(id=doc.id, version=1, **values))
        return "added"
    for key, value in values.items():
        setattr(row, key, value)
    row.version += 1
    return "updated"


def texts_of_kind(s: Session, kind: str) -> list[str]:
    """The texts of the documents of one kind, by id (e.g. the company's escalation policy)."""
    return list(s.scalars(select(DocumentRow.text).where(DocumentRow.kind == kind).order_by(DocumentRow.id)))


def indexed_at_map(s: Session) -> dict[str, str]:
    return {r[0]: iso(r[1]) for r in s.execute(select(DocumentRow.id, DocumentRow.indexed_at)).all()}


def get_state(s: Session, key: str) -> str | None:
    row = s.get(StateRow, key)
    return row.value if row else None


def set_state(s: Session, key: str, value: str) -> None:
    row = s.get(StateRow, key)
    if row is None:
        s.add(StateRow(key=key, value=value))
    else:
        row.value = value


def create_job(s: Session, *, kind: str, payload: dict[str, Any], total: int) -> JobRow:
    job = JobRow(
        id=uuid.uuid4().hex,
        kind=kind,
        status="queued",
        payload=payload,
        total=total,
        done=0,
        counts={"added": 0, "updated": 0, "skipped": 0, "deleted": 0},
    )
    s.add(job)
    return job


def job_json(job: JobRow) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.done, "total": job.total},
        "counts": {k: int(job.counts.get(k, 0)) for k in ("added", "updated", "skipped", "deleted")},
        "chunk_counts": job.counts.get("chunks", {}),
        "error": job.error,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at) or None,
    }


def recent_jobs(s: Session, *, limit: int = 20) -> list[JobRow]:
    return list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)).all())


def fail_interrupted(s: Session) -> list[str]:
    """Jobs left running by a crash are failed; queued ones are returned to be run again."""
    s.execute(
        update(JobRow)
        .where(JobRow.status == "running")
        .values(
            status="failed",
            error="interrupted: the service stopped while this job ran; re-run it",
            finished_at=utcnow(),
        )
    )
    return list(s.scalars(select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created_at)).all())


# -- jobs on a queue: a worker's lease on the row -------------------------------------------------------------------
CLAIM_LOCK_KEY = "job_claim_lock"


def _now() -> datetime:
    return utcnow()


def _expired(until: datetime | None, now: datetime) -> bool:
    if until is None:
        return True
    return (until if until.tzinfo else until.replace(tzinfo=UTC)) < now


def claim_job(s: Session, job_id: str, *, owner: str, lease_s: float, max_attempts: int) -> str:
    """Make ``owner`` the one worker running ``job_id`` for ``lease_s`` seconds. Returns what happened:

    ``claimed``; ``held`` (another worker's lease on it is live); ``busy`` (another job holds a live lease: indexing
    jobs of one knowledge base run one at a time, as on the in-process thread); ``done`` (finished, or gone);
    ``gave_up`` (its workers died ``max_attempts`` times: failed now).

    Every claim first writes one lock row, which serialises claims on SQLite and PostgreSQL alike; the job row is then
    read under ``FOR UPDATE`` (PostgreSQL), so a renewal racing a takeover is seen.
    """
    now = _now()
    _lock_claims(s, owner)
    job = s.get(JobRow, job_id, with_for_update=True)
    if job is None or job.status in ("succeeded", "failed"):
        return "done"
    if job.status == "running" and not _expired(job.lease_until, now):
        return "held"
    others = s.scalars(select(JobRow.lease_until).where(JobRow.status == "running", JobRow.id != job_id)).all()
    if any(not _expired(until, now) for until in others):
        return "busy"
    if job.status == "running" and job.attempts >= max_attempts:
        job.status, job.finished_at, job.lease_owner = "failed", now, None
        job.error = f"gave up: its worker stopped during each of {job.attempts} attempts"
        return "gave_up"
    job.status, job.lease_owner, job.lease_until = "running", owner, now + timedelta(seconds=lease_s)
    job.attempts += 1
    job.done = 0
    return "claimed"


def _lock_claims(s: Session, owner: str) -> None:
    """Write the claim lock row (held until the transaction ends); the first claim ever creates it."""
    lock = update(StateRow).where(StateRow.key == CLAIM_LOCK_KEY).values(value=owner)
    for _ in range(3):
        if cast("CursorResult[Any]", s.execute(lock)).rowcount:
            return
        try:
            with s.begin_nested():  # two first claims at once: one inserts, the other fails here and updates
                s.add(StateRow(key=CLAIM_LOCK_KEY, value=owner))
            return
        except IntegrityError:
            continue
    raise RuntimeError("cannot take the job claim lock")


def renew_lease(s: Session, job_id: str, *, owner: str, lease_s: float) -> bool:
    """Extend ``owner``'s lease on ``job_id``; ``False`` when it no longer holds it (it must stop)."""
    result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.status == "running")
        .values(lease_until=_now() + timedelta(seconds=lease_s))
    )
    return bool(result.rowcount)


def finished_by(s: Session, job_id: str, owner: str) -> bool:
    """Whether ``owner`` recorded the end of ``job_id``."""
    job = s.get(JobRow, job_id)
    return job is not None and job.status in ("succeeded", "failed") and job.lease_owner == owner


def stranded_jobs(s: Session) -> list[str]:
    """Jobs whose worker is gone (running, lease expired or never taken by a queue worker): to be sent again."""
    now = _now()
    rows = s.execute(select(JobRow.id, JobRow.lease_until).where(JobRow.status == "running")).all()
    return [job_id for job_id, until in rows if _expired(until, now)]


def waiting_jobs(s: Session) -> list[str]:
    return list(s.scalars(select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created_at)).all())


def jobs_in_flight(s: Session) -> tuple[int, tuple[str, int, int] | None]:
    """How many jobs are queued or running, and the running one (id, done, total) if any."""
    rows = s.execute(
        select(JobRow.id, JobRow.status, JobRow.done, JobRow.total).where(JobRow.status.in_(("queued", "running")))
    ).all()
    running = next(((r[0], int(r[2]), int(r[3])) for r in rows if r[1] == "running"), None)
    return len(rows), running


# -- collections retired by a full re-index in a worker: other processes may serve them for a moment ----------------
RETIRED_PREFIX = "retired:"


def retire_collection(s: Session, name: str) -> None:
    set_state(s, f"{RETIRED_PREFIX}{name}", iso(_now()))


def retired_collections(s: Session) -> dict[str, datetime]:
    """Collections a full re-index replaced, and when."""
    rows = s.scalars(select(StateRow).where(StateRow.key.startswith(RETIRED_PREFIX))).all()
    return {r.key.removeprefix(RETIRED_PREFIX): datetime.fromisoformat(r.value.replace("Z", "+00:00")) for r in rows}


def forget_retired(s: Session, name: str) -> None:
    row = s.get(StateRow, f"{RETIRED_PREFIX}{name}")
    if row is not None:
        s.delete(row)
