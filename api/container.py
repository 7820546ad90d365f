"""Builds the running parts from settings, once, and hands them to the app (no module-level globals)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from api.knowledge import KnowledgeService
from api.persistence.database import Database
from api.settings import Settings
from assist.engine import AssistEngine
from kb_index.embeddings import E5Embeddings, OpenAICompatibleEmbeddings
from kb_index.indexing import Indexer
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore

log = logging.getLogger("tactful")


def build_embeddings(settings: Settings) -> Embeddings:
    if settings.embeddings_base_url:
        return OpenAICompatibleEmbeddings(
            base_url=settings.embeddings_base_url,
            model=settings.embeddings_model,
            api_key=settings.llm_api_key.get_secret_value(),
        )
    return LanguageNeutralEmbeddings(E5Embeddings(num_threads=settings.embedding_threads))


@dataclass
class Container:
    settings: Settings
    db: Database
    knowledge: KnowledgeService
    engine: AssistEngine
    demo_conversations: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, *, embeddings: Embeddings | None = None) -> Container:
        # Chroma reads this at import in some code paths; our Settings also pass it explicitly.
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database)
        store = ChromaStore.open(
            data_dir=settings.data_dir, url=settings.chroma_url, embeddings=embeddings or build_embeddings(settings)
        )
        knowledge = KnowledgeService(db, Indexer(store, db.engine), HybridRetriever(store))
        return cls(settings=settings, db=db, knowledge=knowledge, engine=AssistEngine(knowledge))

    def start(self) -> None:
        self.knowledge.start()

    def stop(self) -> None:
        self.knowledge.stop()
        self.db.dispose()


DEMO_KB = Path(__file__).resolve().parent.parent / "kb_index" / "demo_kb"
DEMO_CONVERSATIONS = Path(__file__).resolve().parent / "demo" / "conversations.json"
