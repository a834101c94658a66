"""The migrate Job gives the application role the password of the services' DATABASE_URL (from the Secret)."""

from __future__ import annotations

import pytest

from dealpulse_cli.main import build_parser, main
from dealpulse_cli.migrate import app_credentials
from dealpulse_cli.stack import APP_ROLE


def test_the_password_is_the_one_in_the_services_url_decoded() -> None:
    url = f"postgresql://{APP_ROLE}:s%40cr%3At%27pw@db.internal:5432/dealpulse"
    assert app_credentials(url, APP_ROLE) == "s@cr:t'pw"
    assert app_credentials(f"postgresql://{APP_ROLE}@db.internal/dealpulse", APP_ROLE) is None


def test_a_url_of_another_role_is_refused_since_the_migrations_grant_to_the_application_role() -> None:
    with pytest.raises(ValueError, match=APP_ROLE):
        app_credentials("postgresql://postgres:pw@db.internal/dealpulse", APP_ROLE)


def test_migrate_needs_both_urls(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_ADMIN_URL", raising=False)
    assert main(["migrate", "--database-url", "postgresql://postgres@db.internal/dealpulse"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
    args = build_parser().parse_args(["migrate", "--database-url", "a", "--app-database-url", "b"])
    assert (args.database_url, args.app_database_url) == ("a", "b")
