"""The shape of a tenant id: one rule for every place that takes one (webhook header or query, token claim,
scorer query, registry folder name)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)

TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]


def is_tenant_id(value: object) -> bool:
    """A lowercase identifier of at most 63 characters, safe in a URL, a Redis key and a folder name."""
    return isinstance(value, str) and _TENANT_ID.match(value) is not None
