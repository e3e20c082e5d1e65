"""Encryption of ERP passwords at rest (Fernet: AES-128-CBC + HMAC-SHA256), keyed by ``SECRET_KEY``.

``SECRET_KEY`` may be a Fernet key (``Fernet.generate_key()``, 32 url-safe base64 bytes), used as
is, or any passphrase. A passphrase is stretched with PBKDF2-HMAC-SHA256 rather than HKDF: HKDF
assumes its input is already high-entropy key material, while operators type passphrases, and a
deliberately slow KDF is what makes guessing one from a stolen database expensive. The salt is fixed
and app-specific because the key must be re-derivable from ``SECRET_KEY`` alone on every replica
with nowhere to store a random salt; it still rules out precomputed tables built for other apps.
The derivation costs ~0.3 s, so it is cached per key for the life of the process.

Nothing here ever puts the key or a plaintext into an exception message or a repr.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pydantic import SecretStr

_KDF_SALT = b"softone-sync/erp-password-encryption/v1"
_KDF_ITERATIONS = 600_000  # OWASP 2023 recommendation for PBKDF2-HMAC-SHA256

KeyLike = str | SecretStr | None


class SecretKeyMissing(Exception):
    def __init__(self) -> None:
        super().__init__(
            "set SECRET_KEY to encrypt ERP passwords (a Fernet key from "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"` '
            "or any long passphrase)"
        )


class SecretDecryptError(Exception):
    def __init__(self) -> None:
        super().__init__(
            "cannot decrypt a stored ERP password: SECRET_KEY is not the key it was encrypted with "
            "(or the stored value is corrupt); restore the old SECRET_KEY or re-enter the password"
        )


def encrypt_secret(plain: str, key: KeyLike) -> str:
    """Encrypt ``plain``; the token is ASCII text for a text column."""
    return _fernet(_key_text(key)).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str, key: KeyLike) -> str:
    """Decrypt a token made by :func:`encrypt_secret` with the same key."""
    fernet = _fernet(_key_text(key))
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretDecryptError() from None  # no chaining: the cause carries nothing useful


def _key_text(key: KeyLike) -> str:
    text = key.get_secret_value() if isinstance(key, SecretStr) else key
    if text is None or not text.strip():
        raise SecretKeyMissing()
    return text.strip()


@lru_cache(maxsize=8)
def _fernet(key: str) -> Fernet:
    if _is_fernet_key(key):
        return Fernet(key.encode("ascii"))
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, iterations=_KDF_ITERATIONS)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(key.encode("utf-8"))))


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (binascii.Error, UnicodeError, ValueError):
        return False
