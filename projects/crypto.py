"""Encryption at rest for secrets Sightline must be able to read back (LLM provider API keys).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF from `SIGHTLINE_ENCRYPTION_KEY`, which
defaults to SECRET_KEY. Derivation means any long random string works as the setting, and the same
string used for another purpose (sessions, CSRF) never becomes the raw Fernet key.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the current key; the message is safe to show."""


@functools.cache
def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sightline stored secrets v1").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.SIGHTLINE_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.SIGHTLINE_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored API key cannot be decrypted: SIGHTLINE_ENCRYPTION_KEY (or SECRET_KEY) changed since it "
            "was saved. Edit the connection and enter the key again."
        ) from None
