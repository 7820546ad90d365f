"""Helpdesk secrets encrypted at rest (Fernet: AES-128-CBC with an HMAC), with the key from TACTFUL_SECRET_KEY."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from assist.errors import Conflict


class SecretBox:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode()) if key else None

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            raise Conflict("set TACTFUL_SECRET_KEY (tactful installation key prints one) to store helpdesk secrets",
                           field="TACTFUL_SECRET_KEY")  # fmt: skip
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        if self._fernet is None:
            raise Conflict("TACTFUL_SECRET_KEY is not set: the stored helpdesk secrets cannot be read",
                           field="TACTFUL_SECRET_KEY")  # fmt: skip
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise Conflict("a stored helpdesk secret does not open with TACTFUL_SECRET_KEY (was the key changed?)",
                           field="TACTFUL_SECRET_KEY") from exc  # fmt: skip
