"""Configuration: one typed settings object, built at start-up from ``TACTFUL_*`` variables and ``.env``, passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("agent", "supervisor", "knowledge", "admin")


class ConfigError(ValueError):
    """The configuration cannot run a service."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TACTFUL_", env_file=".env", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path(".tactful")
    database_url: str = ""
    chroma_url: str = ""
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
    gap_threshold: float = 0.82

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
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tactful.db'}"

    def keys(self) -> dict[str, str]:
        """key -> role."""
        out: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.api_keys.get_secret_value().split(","))):
            role, _, key = pair.partition(":")
            out[key.strip()] = role.strip()
        return out

    def check_can_serve(self) -> None:
        if not self.keys() and not self.dev_open:
            raise ConfigError("TACTFUL_API_KEYS is empty: set role:key pairs, or TACTFUL_DEV_OPEN=1 for local use only")
