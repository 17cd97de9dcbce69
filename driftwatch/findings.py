"""Findings: one difference between the live schema and the models. Data, not exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FindingKind(StrEnum):
    """A stable public vocabulary: JSON consumers and alert rules depend on these values."""

    MISSING_TABLE = "missing_table"
    EXTRA_TABLE = "extra_table"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    TYPE_MISMATCH = "type_mismatch"
    NULLABLE_MISMATCH = "nullable_mismatch"
    DEFAULT_MISMATCH = "default_mismatch"
    GENERATED_MISMATCH = (
        "generated_mismatch"  # a generated column's expression, or whether it is one
    )
    MISSING_INDEX = "missing_index"
    EXTRA_INDEX = "extra_index"
    MISSING_UNIQUE = "missing_unique"
    EXTRA_UNIQUE = "extra_unique"
    MISSING_FOREIGN_KEY = "missing_foreign_key"
    EXTRA_FOREIGN_KEY = "extra_foreign_key"
    COMMENT_MISMATCH = "comment_mismatch"
    MISSING_ENUM_VALUE = "missing_enum_value"
    EXTRA_ENUM_VALUE = "extra_enum_value"
    MISSING_CHECK = "missing_check"
    EXTRA_CHECK = "extra_check"
    OTHER = "other"  # a difference alembic reports that has no kind of its own yet


class Severity(StrEnum):
    ERROR = "error"  # the application may fail: something it needs is missing or different
    WARNING = "warning"  # the database has more than the models, or performance may suffer
    INFO = "info"  # cosmetic: comments


SEVERITY: dict[FindingKind, Severity] = {
    FindingKind.MISSING_TABLE: Severity.ERROR,
    FindingKind.EXTRA_TABLE: Severity.WARNING,
    FindingKind.MISSING_COLUMN: Severity.ERROR,
    FindingKind.EXTRA_COLUMN: Severity.WARNING,
    FindingKind.TYPE_MISMATCH: Severity.ERROR,
    FindingKind.NULLABLE_MISMATCH: Severity.ERROR,
    FindingKind.DEFAULT_MISMATCH: Severity.WARNING,
    # the application reads values computed otherwise, or writes a column it may not
    FindingKind.GENERATED_MISMATCH: Severity.ERROR,
    FindingKind.MISSING_INDEX: Severity.WARNING,
    FindingKind.EXTRA_INDEX: Severity.WARNING,
    FindingKind.MISSING_UNIQUE: Severity.ERROR,
    FindingKind.EXTRA_UNIQUE: Severity.WARNING,
    FindingKind.MISSING_FOREIGN_KEY: Severity.ERROR,
    FindingKind.EXTRA_FOREIGN_KEY: Severity.WARNING,
    FindingKind.COMMENT_MISMATCH: Severity.INFO,
    # a value the application may write is refused by the database
    FindingKind.MISSING_ENUM_VALUE: Severity.ERROR,
    FindingKind.EXTRA_ENUM_VALUE: Severity.WARNING,
    FindingKind.MISSING_CHECK: Severity.ERROR,
    FindingKind.EXTRA_CHECK: Severity.WARNING,
    FindingKind.OTHER: Severity.WARNING,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One difference. `expected` comes from the models, `actual` from the live database."""

    kind: FindingKind
    schema: str | None
    table: str
    name: str | None  # column, index or constraint name; None for the table itself
    expected: str | None
    actual: str | None
    message: str

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.schema or "", self.table, self.kind.value, self.name or "")
