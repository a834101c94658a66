"""Secrets at rest: webhook and CRM connector secrets are stored in PostgreSQL only as Fernet tokens.

The keys come from the environment (``DEALPULSE_SECRETS_KEYS``, comma-separated, a Kubernetes Secret in
production): the first key encrypts, every key listed decrypts (``MultiFernet``), so a key is rotated by putting the
new one first, re-encrypting what is stored (``dealpulse tenant reencrypt``) and only then dropping the old one.
A value sealed with a key that is no longer listed is ``SecretUnreadable``: it is never guessed at or logged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class MissingKey(ValueError):
    """No key, or a value that is not a Fernet key: nothing can be sealed or opened."""


class SecretUnreadable(Exception):
    """A stored value that none of the configured keys opens (its key was dropped too early, or it was altered)."""


def parse_keys(value: str | Sequence[str]) -> tuple[str, ...]:
    """The keys of ``DEALPULSE_SECRETS_KEYS`` (a comma-separated string or a list), each checked to be a Fernet key."""
    keys = tuple(k.strip() for k in (value.split(",") if isinstance(value, str) else value) if k.strip())
    if not keys:
        raise MissingKey("DEALPULSE_SECRETS_KEYS names no key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # The key itself is never part of the message: it is a secret too.
            raise MissingKey(f"key {position} of DEALPULSE_SECRETS_KEYS is not a Fernet key "
                             "(32 url-safe base64-encoded bytes)") from None
    return keys


class SecretBox:
    """Seals with the first key, opens with any."""

    def __init__(self, keys: str | Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in parse_keys(keys)])

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        with _unreadable():
            return self._fernet.decrypt(sealed.encode()).decode()

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the first key (key rotation); ``SecretUnreadable`` like ``open``."""
        with _unreadable():
            return self._fernet.rotate(sealed.encode()).decode()


@contextmanager
def _unreadable() -> Iterator[None]:
    try:
        yield
    except InvalidToken:
        raise SecretUnreadable("a stored secret is sealed with a key DEALPULSE_SECRETS_KEYS no longer lists "
                               "(or was altered)") from None
