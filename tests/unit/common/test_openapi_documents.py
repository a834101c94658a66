"""Every service's OpenAPI document defines every schema it refers to (a client generator, schemathesis or a
reader following a ``$ref`` finds it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from dealpulse_alerts.app import create_app as alerts_app
from dealpulse_gateway.app import create_app as gateway_app
from dealpulse_ingest.app import create_app as ingest_app
from dealpulse_scorer.app import create_app as scorer_app
from dealpulse_verdict.app import create_app as verdict_app

REF = re.compile(r'"\$ref":\s*"#/components/schemas/([^"]+)"')


@pytest.mark.parametrize("create_app", [ingest_app, scorer_app, verdict_app, alerts_app, gateway_app])
def test_every_referenced_schema_is_defined(create_app: Callable[[], FastAPI]) -> None:
    document = create_app().openapi()
    text = json.dumps(document)
    defined = set(document.get("components", {}).get("schemas", {}))
    assert set(REF.findall(text)) <= defined
    assert '"$defs"' not in text  # nested definitions would be refs into nowhere once inlined


def test_ingest_documents_the_generic_webhook_body_with_its_parts() -> None:
    schemas = ingest_app().openapi()["components"]["schemas"]
    assert {"GenericDealChange", "QualificationEntry", "QualificationCategory", "Confidence",
            "EvidenceStrength"} <= set(schemas)
