"""Server default comparison where alembic's own is wrong for a dialect. Pure."""

from __future__ import annotations

import re
from typing import Any

from alembic.migration import MigrationContext

# MySQL and MariaDB store a default as its value or canonical spelling, not as written:
# TRUE is kept as 1, NOW() as current_timestamp(); alembic compares the spellings
MYSQL_DEFAULT_SYNONYMS = (
    (re.compile(r"^true$"), "1"),
    (re.compile(r"^false$"), "0"),
    (re.compile(r"^(now|localtime|localtimestamp)\b"), "current_timestamp"),
)


def _mysql_default_spelling(rendered: str) -> str:
    spelling = rendered.strip().lower()
    while len(spelling) > 1 and spelling[0] + spelling[-1] in ("''", "()"):
        spelling = spelling[1:-1].strip()
    spelling = spelling.removesuffix("()")
    for pattern, canonical in MYSQL_DEFAULT_SYNONYMS:
        spelling = pattern.sub(canonical, spelling)
    return spelling


def server_default_differs(
    context: MigrationContext,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_default: str | None,
    _metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """alembic's compare_server_default hook, for what its dialect comparisons get wrong.

    True or False decides; None leaves the case to alembic's comparison for the dialect.
    """
    if inspected_default is None or rendered_metadata_default is None:
        return None
    dialect = context.dialect.name
    if dialect == "mysql" and _mysql_default_spelling(inspected_default) == (
        _mysql_default_spelling(rendered_metadata_default)
    ):
        return False
    if dialect == "postgresql" and "nextval(" in f"{inspected_default} {rendered_metadata_default}":
        # alembic would run SELECT <live default> = <model default>, and nextval() must not
        # run (it writes; our read-only transaction refuses it): compare the spellings
        return _pg_default_spelling(inspected_default) != _pg_default_spelling(
            rendered_metadata_default
        )
    return None


def _pg_default_spelling(rendered: str) -> str:
    return rendered.replace("::regclass", "").strip()
