"""Knowledge team: documents, jobs, re-indexing, gaps."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from api import gaps as gaps_module
from api.deps import ContainerDep, KnowledgeRole
from api.errors import ApiError, invalid_input
from api.persistence import knowledge_repo as repo
from api.schemas import (
    MAX_BATCH,
    DocumentIn,
    DocumentOut,
    DocumentsIn,
    DocumentsOut,
    DocumentsQueued,
    GapsOut,
    JobOut,
    JobQueued,
    JobsOut,
    ReindexIn,
)
from assist.errors import InvalidInput, NotFound
from kb_index.documents import SCOPE_KEY, SourceDocument
from kb_index.loaders import load_bytes

router = APIRouter(prefix="/v1", tags=["knowledge"])
MAX_OFFSET = 2**31 - 1  # SQLite and PostgreSQL refuse an OFFSET past 64 bits: a 422 here, not a 500 there


def _to_source(doc: DocumentIn) -> SourceDocument:
    return SourceDocument(
        id=doc.id,
        title=doc.title,
        text=doc.text,
        format=doc.format,
        language=doc.language or "",
        kind=doc.kind,
        source=doc.source,
        metadata={**doc.metadata, **({"topic": doc.topic} if doc.topic else {}),
                  **({SCOPE_KEY: doc.scope} if doc.scope is not None else {})},
    )  # fmt: skip


async def _json_documents(request: Request) -> list[SourceDocument]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError("bad_request", f"the body is not valid JSON: {exc}", field="body") from exc
    try:
        if isinstance(body, dict) and "documents" in body:
            return [_to_source(d) for d in DocumentsIn.model_validate(body).documents]
        return [_to_source(DocumentIn.model_validate(body))]
    except ValidationError as exc:
        raise invalid_input(exc) from exc


async def _uploaded_documents(request: Request) -> list[SourceDocument]:
    form = await request.form()
    files = [f for f in form.getlist("file") if not isinstance(f, str)]
    if not files:
        raise InvalidInput("a multipart upload needs at least one 'file' field", field="file")
    docs = []
    for upload in files:
        data = await upload.read()
        doc = load_bytes(data, filename=upload.filename or "upload.txt")
        for key in ("language", "kind", "title", "id"):
            value = form.get(key)
            if isinstance(value, str) and value and len(files) == 1:
                setattr(doc, key, value)
        doc.source = doc.source or f"upload:{upload.filename}"
        try:
            checked = DocumentIn(
                id=doc.id,
                title=doc.title,
                text=doc.text,
                format=doc.format,  # type: ignore[arg-type]
                language=doc.language or None,
                kind=doc.kind,
                source=doc.source,
                metadata=doc.metadata,
            )
        except ValidationError as exc:
            raise invalid_input(exc, prefix=upload.filename or "file") from exc
        docs.append(_to_source(checked))
    return docs


def _documents_body() -> dict[str, Any]:
    """The request body of ``POST /v1/documents`` for OpenAPI (the route reads it itself: JSON or multipart)."""
    document = DocumentIn.model_json_schema()
    batch = {
        "type": "object", "title": "DocumentsIn", "additionalProperties": False, "required": ["documents"],
        "properties": {"documents": {"type": "array", "items": document, "minItems": 1, "maxItems": MAX_BATCH}},
    }  # fmt: skip
    upload = {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
            **{key: {"type": "string"} for key in ("id", "title", "language", "kind")},
        },
    }  # fmt: skip
    content = {"application/json": {"schema": {"anyOf": [document, batch]}}, "multipart/form-data": {"schema": upload}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/documents", status_code=202, response_model=DocumentsQueued, openapi_extra=_documents_body())
async def add_documents(request: Request, container: ContainerDep, _: KnowledgeRole) -> DocumentsQueued:
    """One document, ``{"documents": [...]}`` (up to 1,000), or multipart file uploads; indexed by a job."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        docs = await _uploaded_documents(request)
    else:
        docs = await _json_documents(request)
    return DocumentsQueued.model_validate(container.knowledge.submit_documents(docs))


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, container: ContainerDep, _: KnowledgeRole) -> JobOut:
    return JobOut.model_validate(container.knowledge.job(job_id))


@router.get("/jobs", response_model=JobsOut)
def list_jobs(container: ContainerDep, _: KnowledgeRole, limit: int = Query(20, ge=1, le=200)) -> JobsOut:
    with container.db.session() as s:
        return JobsOut.model_validate({"items": [repo.job_json(j) for j in repo.recent_jobs(s, limit=limit)]})


@router.get("/documents", response_model=DocumentsOut)
def list_documents(
    container: ContainerDep,
    _: KnowledgeRole,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    language: str = "",
    kind: str = "",
) -> DocumentsOut:
    with container.db.session() as s:
        rows, total = repo.list_documents(s, limit=limit, offset=offset, language=language, kind=kind)
        return DocumentsOut.model_validate({"items": [repo.document_json(r) for r in rows], "total": total})


@router.get("/documents/{document_id}", response_model=DocumentOut)
def get_document(document_id: str, container: ContainerDep, _: KnowledgeRole) -> DocumentOut:
    with container.db.session() as s:
        row = s.get(repo.DocumentRow, document_id)
        if row is None:
            raise NotFound(f"no document with id {document_id!r}", field="id")
        return DocumentOut.model_validate(repo.document_json(row, with_text=True))


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: str, container: ContainerDep, _: KnowledgeRole) -> Response:
    container.knowledge.delete_document(document_id)
    return Response(status_code=204)


@router.post("/reindex", status_code=202, response_model=JobQueued)
def reindex(body: ReindexIn, container: ContainerDep, _: KnowledgeRole) -> JobQueued:
    return JobQueued(job_id=container.knowledge.submit_reindex(body.mode))


GAPS_OF_INSTALLATION = (
    "one installation's gaps, judged on its knowledge scope, and the versions missing from that scope"
)


@router.get("/gaps", response_model=GapsOut)
def gaps(
    container: ContainerDep,
    _: KnowledgeRole,
    limit: int = Query(100, ge=1, le=1000),
    installation_id: str | None = Query(None, max_length=40, description=GAPS_OF_INSTALLATION),
) -> GapsOut:
    """Questions answered badly, and topics with no version in a language customers write in; with
    ``installation_id``, those of that installation's conversations and knowledge scope (404 when unknown)."""
    settings = container.installations.assist_settings(installation_id=installation_id) if installation_id else None
    with container.db.session() as s:
        items = gaps_module.list_gaps(s, limit=limit, installation_id=installation_id)
        if settings is None:
            missing = gaps_module.missing_versions(s)
        else:
            missing = gaps_module.missing_versions(s, installation_id=installation_id, scope=settings.scope)
    return GapsOut.model_validate(
        {"items": items, "threshold": container.settings.gap_threshold, "missing_versions": missing}
    )
