"""One-click satisfaction surveys: a signed link per conversation that a customer can open without a key.

The token is the conversation id and an HMAC of it (key: ``TACTFUL_SURVEY_SECRET``, or one derived from the API keys
when unset), so a customer can rate only the conversation they were sent, and nobody can guess another's link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from api.settings import Settings

SIGNATURE_CHARS = 22  # 132 bits of the HMAC, URL-safe


class SurveyLinks:
    def __init__(self, settings: Settings) -> None:
        secret = settings.survey_secret.get_secret_value() or "survey:" + settings.api_keys.get_secret_value()
        self._key = hashlib.sha256(secret.encode()).digest()
        self.base_url = settings.public_url.rstrip("/")

    def token(self, conversation_id: str) -> str:
        return f"{conversation_id}.{self._signature(conversation_id)}"

    def conversation_of(self, token: str) -> str | None:
        """The conversation a token was signed for; None when it was not signed here."""
        conversation_id, dot, signature = token.rpartition(".")
        if not dot or not conversation_id or not hmac.compare_digest(signature, self._signature(conversation_id)):
            return None
        return conversation_id

    def link(self, conversation_id: str) -> str | None:
        """The survey link to send the customer; None when customers cannot reach Tactful (no public URL)."""
        return f"{self.base_url}/survey/{self.token(conversation_id)}" if self.base_url else None

    def _signature(self, conversation_id: str) -> str:
        digest = hmac.new(self._key, conversation_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]
