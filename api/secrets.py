"""Helpdesk secrets encrypted at rest (Fernet: AES-128-CBC with an HMAC), with the key from TACTFUL_SECRET_KEY; and
the RSA signatures of helpdesks' signed requests (Zendesk's app JWT). The one module importing ``cryptography``."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from assist.errors import Conflict

MIN_RSA_BITS = 2048


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


def rsa_public_key(pem: str) -> RSAPublicKey:
    """The RSA public key in ``pem`` (``-----BEGIN PUBLIC KEY-----``); ``ValueError`` saying why not."""
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY----- …)") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"an RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})")
    return key


def rs256_signed(key: RSAPublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of ``message`` by ``key``."""
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
