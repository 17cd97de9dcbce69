"""Log set-up: text for people, one JSON object per line for log pipelines.

Structured fields travel in `extra={"fields": {...}}`; they never hold a password
(targets carry masked URLs only).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import UTC, datetime
from typing import Any

ALEMBIC_INI_DEPRECATIONS = (
    r"(No path_separator found|The version_path_separator configuration parameter is deprecated)"
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def configure_logging(*, level: str = "warning", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # library warnings (odd reflected types ...) become log lines, not tracebacks
    logging.captureWarnings(True)
    # the deprecated spellings of a project's alembic.ini are its own business, not a
    # monitor's; the other warnings stay visible
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=ALEMBIC_INI_DEPRECATIONS)
    # APScheduler logs every job run and alembic every comparison step at INFO: noise here
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
