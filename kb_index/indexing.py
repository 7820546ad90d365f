"""Incremental indexing with LangChain's indexing API and a SQL record manager in the service's database.

Indexing the same content twice adds nothing; changing one document re-embeds only its chunks; a full
rebuild goes into a new collection that is switched to only after a sanity check passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from langchain_classic.indexes import SQLRecordManager
from langchain_core.documents import Document
from langchain_core.indexing import index
from sqlalchemy.engine import Engine

from kb_index.chunking import chunk_document
from kb_index.documents import SCOPE_KEY, SourceDocument
from kb_index.embeddings import embed_query_array
from kb_index.errors import StoreUnavailable
from kb_index.store import COLLECTION_PREFIX, UNREACHABLE, ChromaStore

Progress = Callable[[int], None]
Cleanup = Literal["incremental", "full"]
BATCH = 64
RETRIES = 3
RETRIED: tuple[type[Exception], ...] = (*UNREACHABLE, StoreUnavailable)


@dataclass
class ChunkCounts:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0

    def add(self, result: dict[str, Any]) -> None:
        self.added += int(result.get("num_added", 0))
        self.updated += int(result.get("num_updated", 0))
        self.skipped += int(result.get("num_skipped", 0))
        self.deleted += int(result.get("num_deleted", 0))


def collection_name(generation: int) -> str:
    return f"{COLLECTION_PREFIX}_v{generation}"


class Indexer:
    """Writes chunks of documents into a Chroma collection, keeping a record of what is there."""

    def __init__(
        self,
        store: ChromaStore,
        engine: Engine,
        *,
        retry_delay: float = 0.5,
        batch: int = BATCH,
        units: bool = True,
    ) -> None:
        self.store = store
        self.batch = batch
        self.units = units  # index each section's units beside it (kb_index.chunking)
        self.engine = engine
        self.retry_delay = retry_delay
        self._managers: dict[str, SQLRecordManager] = {}

    def record_manager(self, collection: str) -> SQLRecordManager:
        if collection not in self._managers:
            manager = SQLRecordManager(namespace=f"chroma/{collection}", engine=self.engine)
            manager.create_schema()
            self._managers[collection] = manager
        return self._managers[collection]

    def sync(
        self,
        collection: str,
        documents: Iterable[SourceDocument],
        *,
        cleanup: Cleanup = "incremental",
        on_document: Progress | None = None,
    ) -> ChunkCounts:
        """Index ``documents`` into ``collection``. ``cleanup="full"`` also deletes every document not given.

        LangChain's incremental cleanup deletes a source's chunks that the current batch did not refresh, so
        a document split across two batches would lose (and re-embed) its tail: batches here always hold
        whole documents.
        """
        counts = ChunkCounts()
        manager = self.record_manager(collection)
        store = self.store.vector_store(collection)
        started = manager.get_time()
        done = 0
        for group, n_docs in _document_groups(documents, batch=self.batch, units=self.units):
            result = self._with_retries(partial(_index_group, group, manager, store))
            counts.add(dict(result))
            done += n_docs
            if on_document:
                on_document(done)
        if cleanup == "full":
            counts.deleted += self._delete_keys(collection, manager.list_keys(before=started))
        return counts

    def delete(self, collection: str, document_ids: list[str]) -> int:
        """Remove every chunk of ``document_ids`` from ``collection``; the number removed."""
        return self._delete_keys(collection, self.record_manager(collection).list_keys(group_ids=document_ids))

    def _delete_keys(self, collection: str, keys: list[str]) -> int:
        if keys:
            self._with_retries(lambda: self.store.vector_store(collection).delete(keys))
            self.record_manager(collection).delete_keys(keys)
        return len(keys)

    def chunk_count(self, collection: str, document_id: str) -> int:
        return len(self.record_manager(collection).list_keys(group_ids=[document_id]))

    def check(self, collection: str, *, expected_chunks: int, probe: str) -> None:
        """Raise ``StoreUnavailable`` unless ``collection`` holds ``expected_chunks`` and answers ``probe``."""
        count = self.store.count(collection)
        if count != expected_chunks:
            raise StoreUnavailable(
                f"sanity check failed: {collection} holds {count} chunks, expected {expected_chunks}"
            )
        if expected_chunks and not self.store.query(collection, embed_query_array(self.store.embeddings, probe), k=1):
            raise StoreUnavailable(f"sanity check failed: {collection} returned nothing for the probe query")

    def drop(self, collection: str) -> None:
        manager = self.record_manager(collection)
        manager.delete_keys(manager.list_keys())
        self.store.drop(collection)
        self._managers.pop(collection, None)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        for attempt in range(RETRIES):
            try:
                return call()
            except RETRIED as exc:  # Chroma restarting: try again a little later
                if attempt == RETRIES - 1:
                    raise StoreUnavailable(f"indexing failed after {RETRIES} attempts: {exc}") from exc
                time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")


def _index_group(group: list[Document], manager: SQLRecordManager, store: Any) -> Any:
    return index(
        group, manager, store, cleanup="incremental", source_id_key="document_id", key_encoder="sha256",
        batch_size=max(len(group), 1),
    )  # fmt: skip


def scoped_chunks(doc: SourceDocument, *, units: bool = True) -> list[Document]:
    """The document's chunks, each carrying its scope tags (a list: Chroma matches it with ``$contains``) when it
    has some; an unscoped document's chunks carry no ``scope`` (Chroma refuses an empty list)."""
    chunks = chunk_document(doc, units=units)
    if doc.scopes:
        for chunk in chunks:
            chunk.metadata[SCOPE_KEY] = list(doc.scopes)
    return chunks


def _document_groups(
    documents: Iterable[SourceDocument], *, batch: int, units: bool = True
) -> Iterator[tuple[list[Document], int]]:
    """Chunks of whole documents, about ``batch`` at a time, and how many documents each group holds."""
    group: list[Document] = []
    n_docs = 0
    for doc in documents:
        group.extend(scoped_chunks(doc, units=units))
        n_docs += 1
        if len(group) >= batch:
            yield group, n_docs
            group, n_docs = [], 0
    if n_docs:
        yield group, n_docs
