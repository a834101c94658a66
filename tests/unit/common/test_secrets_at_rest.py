"""Secrets at rest: sealed with the first key, opened with any listed, re-sealed for a key rotation; a value no
listed key opens, a missing or malformed key, and the public development key outside development are refused
without ever echoing a key or a secret."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from dealpulse_common.secrets_at_rest import MissingKey, SecretBox, SecretUnreadable
from dealpulse_common.settings import DEV_SECRETS_KEY, ServiceSettings
from tests.support import PRODUCTION_AUTH_ENV

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_sealed_secret_opens_with_any_listed_key_and_never_shows_in_clear() -> None:
    sealed = SecretBox(OLD).seal("the-webhook-secret")
    assert "the-webhook-secret" not in sealed
    assert SecretBox(OLD).open(sealed) == "the-webhook-secret"
    assert SecretBox(f"{NEW},{OLD}").open(sealed) == "the-webhook-secret"


def test_resealing_moves_a_secret_to_the_first_key() -> None:
    sealed = SecretBox(OLD).seal("s3cret")
    resealed = SecretBox(f"{NEW},{OLD}").reseal(sealed)
    assert SecretBox(NEW).open(resealed) == "s3cret"
    with pytest.raises(SecretUnreadable):
        SecretBox(OLD).open(resealed)


def test_a_value_no_listed_key_opens_is_unreadable() -> None:
    sealed = SecretBox(OLD).seal("s3cret")
    for attempt in (lambda: SecretBox(NEW).open(sealed), lambda: SecretBox(NEW).reseal(sealed),
                    lambda: SecretBox(OLD).open(sealed[:-4] + "AAAA")):
        with pytest.raises(SecretUnreadable) as refused:
            attempt()
        assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize("keys", ["", " , ", "not-a-fernet-key", f"{OLD},short"])
def test_missing_or_malformed_keys_are_refused_without_echoing_them(keys: str) -> None:
    with pytest.raises(MissingKey) as refused:
        SecretBox(keys)
    assert OLD not in str(refused.value) and "short" not in str(refused.value)


def test_settings_refuse_a_bad_key_and_the_development_key_outside_development(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().secrets_keys == DEV_SECRETS_KEY  # the embedded stack and `make run` need nothing
    monkeypatch.setenv("DEALPULSE_SECRETS_KEYS", "not-a-key")
    with pytest.raises(ValidationError, match="not a Fernet key"):
        ServiceSettings()
    for name, value in {**PRODUCTION_AUTH_ENV, "DEALPULSE_ENV": "production"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DEALPULSE_SECRETS_KEYS")
    with pytest.raises(ValidationError, match="DEALPULSE_SECRETS_KEYS must be set"):
        ServiceSettings()
    monkeypatch.setenv("DEALPULSE_SECRETS_KEYS", f"{NEW},{DEV_SECRETS_KEY}")
    with pytest.raises(ValidationError, match="DEALPULSE_SECRETS_KEYS must be set"):
        ServiceSettings()
    monkeypatch.setenv("DEALPULSE_SECRETS_KEYS", f"{NEW},{OLD}")
    assert ServiceSettings().secrets_keys == f"{NEW},{OLD}"
