"""Log set-up: text for people, one JSON object per line for log pipelines.

Structured fields travel in `extra={"fields": {...}}`; they never hold a password
(targets carry masked URLs only). Once the configuration is read, `mask_secrets_in_logs`
masks every known secret in every record, whoever wrote it (the project's own code too).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

ALEMBIC_INI_DEPRECATIONS = (
    r"(No path_separator found|The version_path_separator configuration parameter is deprecated)"
)
ALEMBIC_GRAPH_WARNINGS = (
    r"Revision \S+ (is present more than once|referenced from .* is not present)"
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
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # set (and scrubbed) by SecretFilter
            entry["exception"] = record.exc_text
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
    # secrets learnt before stay masked (see mask_secrets_in_logs)
    for kept in [f for h in root.handlers for f in h.filters if isinstance(f, SecretFilter)][-1:]:
        handler.addFilter(kept)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # library warnings (odd reflected types ...) become log lines, not tracebacks
    logging.captureWarnings(True)
    # the deprecated spellings of a project's alembic.ini are its own business, not a
    # monitor's; the other warnings stay visible
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=ALEMBIC_INI_DEPRECATIONS)
    # a broken revision graph is reported as the check's error (expected.load_scripts)
    warnings.filterwarnings("ignore", category=UserWarning, message=ALEMBIC_GRAPH_WARNINGS)
    # APScheduler logs every job run and alembic every comparison step at INFO: noise here
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))


class SecretFilter(logging.Filter):
    """Masks secrets (a secrets.Scrubber) in a record's message, fields and traceback."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it, as it always does
            return True
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                key: self.scrub(value) if isinstance(value, str) else value
                for key, value in fields.items()
            }
        return True


def mask_secrets_in_logs(scrub: Callable[[str], str]) -> None:
    """From now on, mask `scrub`'s secrets in every record the configured handlers write."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, SecretFilter)]:
            handler.removeFilter(old)
        handler.addFilter(SecretFilter(scrub))
