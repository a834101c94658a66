import pytest

from dealpulse_cli.webhook_client import signature as sign
from dealpulse_ingest.signature import SignatureError, verify

BODY = b'{"deal_id": "D1"}'


def test_a_signature_we_made_verifies() -> None:
    verify("s3cret", BODY, sign("s3cret", BODY, 1_700_000_000), 300, now=1_700_000_100)


@pytest.mark.parametrize(
    ("header", "now", "reason"),
    [
        (None, 1_700_000_000, "missing"),
        ("v1=abc", 1_700_000_000, "timestamp"),
        (sign("other", BODY, 1_700_000_000), 1_700_000_000, "does not match"),
        (sign("s3cret", BODY, 1_700_000_000), 1_700_000_301, "window"),
        (sign("s3cret", BODY, 1_700_000_000), 1_699_999_699, "window"),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header: str | None, now: float, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify("s3cret", BODY, header, 300, now=now)


def test_a_changed_body_no_longer_verifies() -> None:
    header = sign("s3cret", BODY, 1_700_000_000)
    with pytest.raises(SignatureError):
        verify("s3cret", BODY + b" ", header, 300, now=1_700_000_000)
