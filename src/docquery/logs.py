"""JSON logs with the request id; only ids, sizes, timings and codes go in (never patient data)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Fields a log call may attach with `extra=`; anything else is dropped, so a careless
# `extra={"filename": ...}` can never put patient data into the logs.
ALLOWED_FIELDS = frozenset(
    {
        "method",
        "route",
        "status",
        "duration_ms",
        "document_id",
        "size",
        "code",
        "blob_key",
        "owner",
        "bytes",
        "profile",
        "check",
        "error_type",
        # Counts, model ids and outcomes: never text.
        "count",
        "pages",
        "attempt",
        "action",
        "failed",
        "model_id",
        "input_tokens",
        "output_tokens",
        "estimated_input_tokens",
        "stop_reason",
        "clauses",
        "citations",
        "grounded",
    }
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            # Our own events never take %-args; other libraries' arguments may hold anything,
            # so only the server's own (uvicorn: pids, addresses) are formatted in.
            "event": record.getMessage()
            if record.name.startswith("uvicorn") or not record.args
            else record.msg,
        }
        if (request_id := request_id_var.get()) is not None:
            entry["request_id"] = request_id
        entry.update(
            {key: value for key, value in record.__dict__.items() if key in ALLOWED_FIELDS}
        )
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages can quote document text or file names.
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger, uvicorn's included, through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
