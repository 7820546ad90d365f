"""Configuration: one typed settings object, built at start-up from ``TACTFUL_*`` variables and ``.env``, passed in."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("agent", "supervisor", "knowledge", "admin")
PLACEHOLDER = "change-me"  # how .env.example marks a secret to replace
FERNET_KEY_BYTES = 32


class ConfigError(ValueError):
    """The configuration cannot run a service."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TACTFUL_", env_file=".env", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path(".tactful")
    database_url: str = ""
    chroma_url: str = ""
    # Seconds a request to the Chroma server may take before it counts as unreachable (0: no limit, chromadb's own
    # default): a server that hangs then degrades like a dead one (docs/deploy.md, Faults).
    chroma_timeout_s: float = Field(default=5.0, ge=0)
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    embeddings_base_url: str = ""
    embeddings_model: str = ""
    api_keys: SecretStr = SecretStr("")
    dev_open: bool = False
    demo: bool = False
    embedding_threads: int | None = None
    frame_ancestors: str = "'self' https://*.zendesk.com https://app.chatwoot.com"
    # Best-passage relevance below which a question is a knowledge gap; chosen on the demo KB's development
    # questions by `tactful eval gaps` (docs/evaluation.md). Calibrate a KB written in another style on its own.
    gap_threshold: float = Field(default=0.85, ge=0, le=1)
    # Index each section's units (a question of a list, a bullet, a step) beside it: better retrieval on list-shaped
    # documents (docs/evaluation.md), 3 to 12 times the vectors. Changing it takes a full re-index.
    index_units: bool = True
    # Chatwoot's webhook secret: with it, POST /v1/webhooks/chatwoot accepts signed message events.
    chatwoot_webhook_secret: SecretStr = SecretStr("")
    # Chatwoot's API (https://chatwoot.example.com and an agent or bot access token): with it, a conversation
    # first heard mid-way has its earlier messages fetched before it is assessed.
    chatwoot_api_url: str = ""
    chatwoot_api_token: SecretStr = SecretStr("")
    # Conversation history heard from helpdesk webhooks (customers' messages): at most this many messages per
    # conversation are kept (older ones are deleted), and a resolved conversation's history is deleted this many
    # days after it was resolved; one never resolved, this many days after its last message.
    history_messages: int = Field(default=200, ge=2, le=500)
    history_retention_days: float = Field(default=30.0, ge=0)
    # The tone check's learned sarcasm scorer (assist/sarcasm.py, the bundled e5 model): off, the phrase banks alone.
    tone_learned_sarcasm: bool = True
    # The support team's time zone (IANA name): an agent's "I'll call you tomorrow at 10" is due at 10:00 there.
    timezone: str = "UTC"
    # The address customers reach Tactful at (https://tactful.example.com): with it, a resolved case's follow-up
    # carries a one-click survey link (/survey/<signed token>). survey_secret signs those links (default: derived
    # from the API keys, so rotating them invalidates old links).
    public_url: str = ""
    survey_secret: SecretStr = SecretStr("")
    # Zendesk's app SDK, loaded by the sidebar in Zendesk mode only (/sidebar?helpdesk=zendesk); the sidebar page's
    # Content-Security-Policy allows scripts from its origin. A path (/static/…) serves a copy from Tactful itself.
    zendesk_sdk_url: str = Field(
        default="https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js",
        pattern=r"^(https://[A-Za-z0-9.-]+(:\d+)?/\S*|/\S+)$",
    )
    # The key that encrypts helpdesk installations' API tokens and webhook secrets at rest (a Fernet key:
    # `tactful installation key` prints a new one). Without it, installations cannot be added.
    secret_key: SecretStr = SecretStr("")
    # Agents of a helpdesk installation sign in as themselves with short-lived tokens (api/agent_tokens.py), signed
    # with a key derived from this secret (empty: from TACTFUL_SECRET_KEY, else from the API keys). A token lasts
    # agent_token_ttl_s and the sidebar refreshes it before then, for at most agent_token_max_age_s after the
    # helpdesk last vouched for the agent.
    agent_token_secret: SecretStr = SecretStr("")
    agent_token_ttl_s: int = Field(default=900, ge=60, le=86400)
    agent_token_max_age_s: int = Field(default=43200, ge=60, le=30 * 86400)
    # Requests per minute each API key may make to /v1 (bursts up to it; 0: no limit). Counted across every process
    # when Redis holds shared state (shared_redis_url), else per process.
    rate_limit_per_minute: int = Field(default=1200, ge=0)
    # Beyond one process (docs/deploy.md). queue_url: the Redis holding the indexing job queue; set, web processes
    # send jobs there and `tactful worker` runs them (empty: each web process runs its jobs on a thread). redis_url:
    # the Redis holding shared state: the index version, rate limits, the LLM breaker (empty: the queue's).
    # redis_prefix: prefix of every key, so deployments or test runs can share one Redis. A worker's claim on a job
    # lasts job_lease_s unrenewed (renewed every third of it); a job whose workers died job_max_attempts times is
    # failed. queue_heartbeat_s: how long the queue waits for a silent worker before handing its messages to another.
    queue_url: str = Field(default="", pattern=r"^(rediss?://\S+)?$")
    redis_url: str = Field(default="", pattern=r"^(rediss?://\S+)?$")
    redis_prefix: str = Field(default="tactful", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    job_lease_s: float = Field(default=30.0, ge=1, le=3600)
    # How long the collection a full re-index replaced is kept after the switch: longer than a web process's full
    # load of the new one (docs/deploy.md, What a web worker keeps in memory).
    reindex_grace_s: float = Field(default=120.0, ge=0)
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    queue_heartbeat_s: float = Field(default=60.0, ge=1, le=3600)
    # The LLM refinement (assist/refine.py), used only when llm_base_url or llm_api_key is set.
    llm_timeout_s: float = Field(default=8.0, gt=0)
    llm_privacy: bool = True
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_backoff_s: float = Field(default=0.25, ge=0)
    llm_breaker_failures: int = Field(default=3, ge=1)
    llm_breaker_reset_s: float = Field(default=30.0, ge=0)
    # Calls that may try the endpoint at once once the breaker's reset time passed (across every process when
    # the breaker is shared through Redis; in this process there is always one).
    llm_breaker_probes: int = Field(default=1, ge=1, le=100)
    llm_cache_ttl_s: float = Field(default=60.0, ge=0)
    llm_cache_size: int = Field(default=256, ge=0)
    llm_response_format: Literal["auto", "json_schema", "json_object_schema", "json_object"] = "auto"
    llm_max_tokens: int = Field(default=600, ge=16)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_grounding_lexical: float = Field(default=0.3, ge=0, le=1)
    llm_grounding_semantic: float = Field(default=0.91, ge=-1, le=1)
    llm_grounding_semantic_floor: float = Field(default=0.8, ge=-1, le=1)

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: SecretStr) -> SecretStr:
        for pair in filter(None, (p.strip() for p in value.get_secret_value().split(","))):
            role, sep, key = pair.partition(":")
            if not sep or role.strip() not in ROLES or len(key.strip()) < 8:
                raise ValueError(
                    f"TACTFUL_API_KEYS entry {role.strip()!r}: expected role:key with role in {', '.join(ROLES)} "
                    "and a key of at least 8 characters"
                )
        return value

    @property
    def llm_enabled(self) -> bool:
        """Whether an LLM endpoint is configured (an empty base URL with a key means OpenAI itself)."""
        return bool(self.llm_base_url or self.llm_api_key.get_secret_value())

    @property
    def shared_redis_url(self) -> str:
        """Where the shared state lives: ``redis_url``, else the queue's Redis, else nowhere (one process)."""
        return self.redis_url or self.queue_url

    def check_can_share(self) -> None:
        """Several processes need a Chroma server: embedded Chroma must not be opened by two processes at once."""
        if not self.chroma_url:
            raise ConfigError(
                "a job queue (TACTFUL_QUEUE_URL) means several processes, and embedded Chroma cannot be shared between "
                "processes: run a Chroma server (`chroma run --path DIR --port 8001`) and set TACTFUL_CHROMA_URL"
            )

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tactful.db'}"

    @field_validator("secret_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key and PLACEHOLDER not in key:
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != FERNET_KEY_BYTES:
                    raise ValueError("wrong length")
            except (ValueError, TypeError) as exc:
                raise ValueError("TACTFUL_SECRET_KEY must be a key from `tactful installation key`") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"TACTFUL_TIMEZONE: unknown time zone {value!r} (an IANA name such as Europe/Rome)"
            ) from exc
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def keys(self) -> dict[str, str]:
        """key -> role."""
        out: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.api_keys.get_secret_value().split(","))):
            role, _, key = pair.partition(":")
            out[key.strip()] = role.strip()
        return out

    def check_can_serve(self) -> None:
        if self.queue_url:
            self.check_can_share()
        if not self.keys() and not self.dev_open:
            raise ConfigError("TACTFUL_API_KEYS is empty: set role:key pairs, or TACTFUL_DEV_OPEN=1 for local use only")
        for name, value in (
            ("TACTFUL_API_KEYS", self.api_keys),
            ("TACTFUL_LLM_API_KEY", self.llm_api_key),
            ("TACTFUL_CHATWOOT_WEBHOOK_SECRET", self.chatwoot_webhook_secret),
            ("TACTFUL_CHATWOOT_API_TOKEN", self.chatwoot_api_token),
            ("TACTFUL_SURVEY_SECRET", self.survey_secret),
            ("TACTFUL_SECRET_KEY", self.secret_key),
            ("TACTFUL_AGENT_TOKEN_SECRET", self.agent_token_secret),
        ):
            if PLACEHOLDER in value.get_secret_value():
                raise ConfigError(
                    f"{name} still holds a placeholder from .env.example ({PLACEHOLDER}…): set a real value"
                )
