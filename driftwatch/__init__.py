"""driftwatch: schema-drift monitor for Alembic-managed databases.

The public API is what this module exports (`__all__`); everything else is internal and may
change. Names are imported on first use, so `import driftwatch` (and the CLI's start-up)
stays cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("alembic-driftwatch")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from driftwatch.check import check_target, check_targets
    from driftwatch.config.targets import Target, parse_url
    from driftwatch.errors import (
        ConfigError,
        DatabaseError,
        DriftwatchError,
        MetadataError,
        PrivilegeError,
        ScriptsError,
        VersionTableError,
    )
    from driftwatch.findings import Attribution, Finding, FindingKind, Severity
    from driftwatch.render.document import render_json
    from driftwatch.render.text import render_text
    from driftwatch.report import (
        Category,
        ExitCode,
        Report,
        SchemaResult,
        Status,
        TargetReport,
    )
    from driftwatch.revisions import RevisionState, RevisionStateKind

_EXPORTS = {
    "check_target": "driftwatch.check",
    "check_targets": "driftwatch.check",
    "Target": "driftwatch.config.targets",
    "parse_url": "driftwatch.config.targets",
    "Report": "driftwatch.report",
    "TargetReport": "driftwatch.report",
    "SchemaResult": "driftwatch.report",
    "Category": "driftwatch.report",
    "Status": "driftwatch.report",
    "ExitCode": "driftwatch.report",
    "Finding": "driftwatch.findings",
    "FindingKind": "driftwatch.findings",
    "Attribution": "driftwatch.findings",
    "Severity": "driftwatch.findings",
    "RevisionState": "driftwatch.revisions",
    "RevisionStateKind": "driftwatch.revisions",
    "render_text": "driftwatch.render.text",
    "render_json": "driftwatch.render.document",
    "DriftwatchError": "driftwatch.errors",
    "ConfigError": "driftwatch.errors",
    "ScriptsError": "driftwatch.errors",
    "MetadataError": "driftwatch.errors",
    "DatabaseError": "driftwatch.errors",
    "VersionTableError": "driftwatch.errors",
    "PrivilegeError": "driftwatch.errors",
}

__all__ = [
    "Attribution",
    "Category",
    "ConfigError",
    "DatabaseError",
    "DriftwatchError",
    "ExitCode",
    "Finding",
    "FindingKind",
    "MetadataError",
    "PrivilegeError",
    "Report",
    "RevisionState",
    "RevisionStateKind",
    "SchemaResult",
    "ScriptsError",
    "Severity",
    "Status",
    "Target",
    "TargetReport",
    "VersionTableError",
    "__version__",
    "check_target",
    "check_targets",
    "parse_url",
    "render_json",
    "render_text",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driftwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
