"""Chroma, the vector store: embedded (persistent, in the data dir) or a server by URL. The only module importing chromadb."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from kb_index.errors import CollectionGone, StoreUnavailable

COLLECTION_PREFIX = "tactful_chunks"
_METADATA = {"hnsw:space": "cosine"}
DOCUMENTS_PER_GET = 200  # documents named in one ``$in`` filter: a large change is read in several requests
# What a Chroma server that is down, restarting or silent raises through ``chromadb.HttpClient`` (httpx's errors,
# not chromadb's); the socket errors for the rest.
UNREACHABLE: tuple[type[Exception], ...] = (httpx.TransportError, ConnectionError, TimeoutError, OSError)
T = TypeVar("T")


@dataclass
class StoredChunk:
    id: str
    text: str
    metadata: dict[str, Any]
    distance: float = 0.0
    embedding: np.ndarray | None = None


def _get_page(col: Any, *, include: list[str], limit: int, offset: int) -> Any:
    return col.get(include=include, limit=limit, offset=offset)


def _get_where(col: Any, *, where: dict[str, Any], include: list[str]) -> Any:
    return col.get(where=where, include=include)


def _stored(res: Any, *, with_embeddings: bool) -> list[StoredChunk]:
    """The chunks of one ``get`` answer."""
    vectors = res["embeddings"] if with_embeddings else [None] * len(res["ids"])
    return [
        StoredChunk(
            id=i, text=d or "", metadata=dict(m or {}), embedding=None if v is None else np.asarray(v, dtype=np.float32)
        )
        for i, d, m, v in zip(res["ids"], res["documents"], res["metadatas"], vectors, strict=True)
    ]


def _unreachable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the Chroma server cannot be reached ({type(exc).__name__}: {exc})")


def _http_client(url: str, *, timeout_s: float) -> Any:
    """``chromadb.HttpClient`` on ``url`` whose every request gives up after ``timeout_s`` (0: never).

    chromadb 1.5.9 builds its HTTP session with ``httpx.Client(timeout=None)`` and has no setting for it
    (``chromadb/api/fastapi.py``; chroma-core/chroma#5805), so a server that accepts connections and never answers
    (stopped, swapping, deadlocked) held a search forever. The session is reached through the client's private
    ``_server`` attribute (tests/test_faults.py fails if a chromadb upgrade moves it). The constructor itself asks
    the server for its tenant with no timeout: a heartbeat with one goes first.
    """
    parsed = urlparse(url)
    if timeout_s > 0:
        httpx.get(f"{url.rstrip('/')}/api/v2/heartbeat", timeout=timeout_s).raise_for_status()
    client = chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 8000,
        ssl=parsed.scheme == "https",
        settings=_client_settings(),
    )
    session = client._server._session  # type: ignore[attr-defined]
    if not isinstance(session, httpx.Client):
        raise TypeError(f"chromadb's HTTP session is a {type(session).__name__}, not an httpx.Client")
    session.timeout = httpx.Timeout(timeout_s if timeout_s > 0 else None)
    return client


def _client_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class ChromaStore:
    """Collections of chunks; the embedding function is always ours, so Chroma never fetches its default model."""

    def __init__(self, client: Any, embeddings: Embeddings) -> None:
        self.client = client
        self.embeddings = embeddings
        # Once a call found the server unreachable, one call at a time asks it again and the others fail at once:
        # a server that hangs costs one timeout at a time, not one per concurrent request (as a dead one answers).
        self._failure = ""  # why the last call could not reach the server ("": it could)
        self._asking = threading.RLock()  # re-entered by a call that first opens its collection's handle
        # Collection handles by name: asking Chroma for one costs a catalogue round trip (~3 ms embedded, more over
        # HTTP) that every search would otherwise pay. Dropped with the collection, or when Chroma no longer knows it.
        self._handles: dict[str, Any] = {}
        self._handles_lock = threading.Lock()

    @classmethod
    def open(cls, *, data_dir: Path, url: str, embeddings: Embeddings, timeout_s: float = 0) -> ChromaStore:
        """Embedded Chroma under ``data_dir/chroma`` or, when ``url`` is set, ``chromadb.HttpClient`` whose requests
        give up after ``timeout_s`` seconds (0: never)."""
        try:
            if url:
                client = _http_client(url, timeout_s=timeout_s)
            else:
                path = data_dir / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=_client_settings())
        except Exception as exc:  # chromadb raises bare Exceptions for connection failures
            raise StoreUnavailable(f"cannot open Chroma ({url or 'embedded'}): {exc}") from exc
        return cls(client, embeddings)

    def _reached(self, call: Callable[[], T]) -> T:
        """``call``'s answer; ``StoreUnavailable`` when the Chroma server cannot be reached (callers degrade or answer
        503 instead of failing with a transport error), at once while another call is asking it again."""
        if not self._failure:
            return self._ask(call)
        if not self._asking.acquire(blocking=False):
            raise StoreUnavailable(self._failure)
        try:
            return self._ask(call)
        finally:
            self._asking.release()

    def _ask(self, call: Callable[[], T]) -> T:
        try:
            answer = call()
        except UNREACHABLE as exc:
            failure = _unreachable(exc)
            self._failure = failure.message
            raise failure from exc
        except ChromaError:  # the server answered, with an error of its own
            self._failure = ""
            raise
        self._failure = ""
        return answer

    def collection(self, name: str, *, create: bool = True) -> Any:
        """The (cached) handle of ``name``, created empty if Chroma does not hold it; with ``create`` False,
        ``NotFoundError`` instead."""
        handle = self._handles.get(name)
        if handle is None:
            if create:
                open_it = functools.partial(self.client.get_or_create_collection, metadata=_METADATA)
            else:
                open_it = self.client.get_collection
            handle = self._reached(lambda: open_it(name=name, embedding_function=None))
            with self._handles_lock:
                self._handles[name] = handle
        return handle

    def _forget(self, name: str) -> None:
        with self._handles_lock:
            self._handles.pop(name, None)

    def _on_collection(self, name: str, action: Callable[[Any], T], *, create: bool = True) -> T:
        """``action`` on the cached handle of ``name``; once more on a fresh handle if Chroma lost the collection
        (another process dropped and re-created it, or a Chroma server restarted without its data). With ``create``
        False a collection Chroma does not hold is never made: ``CollectionGone``."""
        try:
            return self._reached(lambda: action(self.collection(name, create=create)))
        except NotFoundError:
            self._forget(name)
            try:
                return self._reached(lambda: action(self.collection(name, create=create)))
            except NotFoundError as exc:
                if create:
                    raise
                self._forget(name)
                raise CollectionGone(f"the knowledge base's collection {name} is gone") from exc

    def vector_store(self, name: str) -> Chroma:
        """A LangChain vector store on collection ``name`` (for the indexing API)."""
        self.collection(name)
        return self._reached(
            lambda: Chroma(client=self.client, collection_name=name, embedding_function=self.embeddings)
        )

    def heartbeat(self) -> None:
        """Nothing when Chroma answers; ``StoreUnavailable`` when it cannot be reached."""
        self._reached(self.client.heartbeat)

    def names(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self._reached(self.client.list_collections))

    def drop(self, name: str) -> None:
        self._forget(name)
        if name in self.names():
            self._reached(lambda: self.client.delete_collection(name))

    def count(self, name: str) -> int:
        return int(self._on_collection(name, lambda col: col.count()))

    def query(
        self,
        name: str,
        embedding: np.ndarray,
        *,
        k: int,
        where: dict[str, Any] | None = None,
    ) -> list[StoredChunk]:
        """The ``k`` nearest chunks (fewer when the collection holds fewer; Chroma 1.x needs no count first).
        ``CollectionGone`` when Chroma no longer holds ``name``: a search is never the one to re-create it (empty,
        it would answer nothing while a web process still serving it loads the collection that replaced it)."""

        res = self._on_collection(
            name,
            lambda col: col.query(
                query_embeddings=[embedding.tolist()],
                n_results=k,
                where=where or None,
                include=["documents", "metadatas", "distances"],
            ),
            create=False,
        )
        return [
            StoredChunk(id=i, text=d or "", metadata=dict(m or {}), distance=float(dist))
            for i, d, m, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]

    def nearest_ids(
        self, name: str, embeddings: np.ndarray, *, k: int, where: dict[str, Any] | None = None
    ) -> list[list[str]]:
        """For each row of ``embeddings``, the ids of its ``k`` nearest chunks, in one call (Chroma's index, not a
        scan); ``CollectionGone`` as ``query``."""
        res = self._on_collection(
            name,
            lambda col: col.query(
                query_embeddings=[row.tolist() for row in embeddings], n_results=k, where=where or None, include=[]
            ),
            create=False,
        )
        return [list(ids) for ids in res["ids"]]

    def all_chunks(self, name: str, *, with_embeddings: bool = False) -> list[StoredChunk]:
        out: list[StoredChunk] = []
        page = 2000
        include = ["documents", "metadatas", "embeddings"] if with_embeddings else ["documents", "metadatas"]
        for offset in range(0, self.count(name), page):
            res = self._on_collection(name, functools.partial(_get_page, include=include, limit=page, offset=offset))
            out += _stored(res, with_embeddings=with_embeddings)
        return out

    def chunks_of(self, name: str, document_ids: list[str], *, with_embeddings: bool = False) -> list[StoredChunk]:
        """Every chunk of the documents ``document_ids`` (none for a document the collection does not hold)."""
        out: list[StoredChunk] = []
        include = ["documents", "metadatas", "embeddings"] if with_embeddings else ["documents", "metadatas"]
        for start in range(0, len(document_ids), DOCUMENTS_PER_GET):
            where = {"document_id": {"$in": document_ids[start : start + DOCUMENTS_PER_GET]}}
            res = self._on_collection(name, functools.partial(_get_where, where=where, include=include))
            out += _stored(res, with_embeddings=with_embeddings)
        return out

    def embeddings_of(self, name: str, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        res = self._on_collection(name, lambda col: col.get(ids=ids, include=["embeddings"]))
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(res["ids"], res["embeddings"], strict=True)}

    def chunk_ids_of(self, name: str, document_id: str) -> list[str]:
        res = self._on_collection(name, lambda col: col.get(where={"document_id": document_id}, include=[]))
        return list(res["ids"])
