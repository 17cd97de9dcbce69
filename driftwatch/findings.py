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
    # a generated column's expression or kind, or whether it is one
    GENERATED_MISMATCH = "generated_mismatch"
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
    # what only the snapshot comparison sees (alembic's comparison does not)
    INDEX_MISMATCH = "index_mismatch"
    UNIQUE_MISMATCH = "unique_mismatch"
    FOREIGN_KEY_MISMATCH = "foreign_key_mismatch"
    PRIMARY_KEY_MISMATCH = "primary_key_mismatch"
    CHECK_MISMATCH = "check_mismatch"
    ENUM_ORDER_MISMATCH = "enum_order_mismatch"
    MISSING_ENUM = "missing_enum"
    EXTRA_ENUM = "extra_enum"
    MISSING_SEQUENCE = "missing_sequence"
    EXTRA_SEQUENCE = "extra_sequence"
    SEQUENCE_MISMATCH = "sequence_mismatch"
    MISSING_VIEW = "missing_view"
    EXTRA_VIEW = "extra_view"
    VIEW_MISMATCH = "view_mismatch"
    IDENTITY_MISMATCH = "identity_mismatch"
    COLLATION_MISMATCH = "collation_mismatch"
    MODEL_NOT_CREATED = "model_not_created"  # the scratch database refused a models' statement
    OTHER = "other"  # a difference alembic reports that has no kind of its own yet


class Attribution(StrEnum):
    """Why a difference exists (DESIGN.md "Attribution"); a stable public vocabulary."""

    DRIFT = "drift"  # the database is not what its own revision's migrations produce
    PENDING = "pending"  # what the migrations the database has not run yet will change
    UNMIGRATED = "unmigrated"  # the models hold what no migration produces
    # compared with the models directly (no replay): the cause is not known, counted as drift
    UNATTRIBUTED = "unattributed"


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
    FindingKind.INDEX_MISMATCH: Severity.WARNING,
    FindingKind.UNIQUE_MISMATCH: Severity.ERROR,
    FindingKind.FOREIGN_KEY_MISMATCH: Severity.ERROR,
    FindingKind.PRIMARY_KEY_MISMATCH: Severity.ERROR,
    FindingKind.CHECK_MISMATCH: Severity.ERROR,
    FindingKind.ENUM_ORDER_MISMATCH: Severity.WARNING,  # sorting and comparisons change
    FindingKind.MISSING_ENUM: Severity.ERROR,
    FindingKind.EXTRA_ENUM: Severity.WARNING,
    FindingKind.MISSING_SEQUENCE: Severity.ERROR,
    FindingKind.EXTRA_SEQUENCE: Severity.WARNING,
    FindingKind.SEQUENCE_MISMATCH: Severity.WARNING,
    FindingKind.MISSING_VIEW: Severity.ERROR,
    FindingKind.EXTRA_VIEW: Severity.WARNING,
    FindingKind.VIEW_MISMATCH: Severity.ERROR,
    FindingKind.IDENTITY_MISMATCH: Severity.ERROR,
    FindingKind.COLLATION_MISMATCH: Severity.WARNING,
    FindingKind.MODEL_NOT_CREATED: Severity.ERROR,
    FindingKind.OTHER: Severity.WARNING,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One difference: `expected` from the state the comparison expects, `actual` from the
    state it found (see `attribution`: for `pending`, the database's revision's state is the
    actual one and the heads' the expected; for `unmigrated`, the heads' state is the actual
    one and the models the expected).

    `fix` (drift only) is SQL that would bring the live object back to its expected state,
    for the live database's dialect (`compare.fix`); None where none can be written. Shown,
    never run.
    """

    kind: FindingKind
    schema: str | None
    table: str
    name: str | None  # column, index or constraint name; None for the table itself
    expected: str | None
    actual: str | None
    message: str
    attribution: Attribution = Attribution.UNATTRIBUTED
    revision: str | None = None  # pending: the revision that makes this change
    fix: str | None = None

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def path(self) -> str:
        """`schema.table.name`, the parts it has: how every output names the object."""
        return ".".join(p for p in (self.schema, self.table, self.name) if p)

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.schema or "", self.table, self.kind.value, self.name or "")
