"""JSON logs carrying the trace of the event being handled and the id of the HTTP request being answered."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)
tenant_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
# Set by ``dealpulse_common.request_ids`` at every HTTP edge.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_PATTERN = re.compile(
    r"(?i)(secret|password|authorization|token|signature)(['\"]?\s*[:=]\s*['\"]?)([^\s,'\"}]+)"
)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        traceparent = traceparent_var.get()
        record.trace_id = traceparent.split("-")[1] if traceparent and traceparent.count("-") >= 2 else None
        record.tenant_id = tenant_var.get()
        record.request_id = request_id_var.get()
        if isinstance(record.msg, str):
            record.msg = _SECRET_PATTERN.sub(r"\1\2[redacted]", record.msg)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(trace_id)s %(tenant_id)s "
            "%(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
