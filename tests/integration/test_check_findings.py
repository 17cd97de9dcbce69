"""Every finding kind, produced by real out-of-band DDL on every dialect that can express it.

Each case starts from the shop scenario migrated to head (models and database agree), makes
one change a person with a SQL prompt could make, and expects exactly one finding of the
right kind, on the right table and object, attributed to drift where the migrations were
replayed, with the expected (what the migrations produce; the models', through alembic's
comparison) and actual (live) sides filled in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.report import TargetReport
from tests.integration.test_snapshot_coverage import COVERED_KINDS
from tests.support.scenarios import (
    Rebuild,
    execute,
    migrate,
    query,
    rebuild_sqlite_table,
    shop_target,
)

DIALECTS = ("postgresql", "mysql", "sqlite")
COMPARISONS = ("snapshot", "alembic")
# what each comparison setting runs on a database at a revision the scripts know: the
# snapshot one replays the migrations, so an out-of-band change is attributed to drift (the
# expected side is what the migrations produce, in the server's words); alembic's compares
# with the models, with no replay, so its findings are unattributed
METHOD = {"snapshot": "replay", "alembic": "alembic"}
ATTRIBUTION = {"snapshot": Attribution.DRIFT, "alembic": Attribution.UNATTRIBUTED}
URL_FIXTURES = {"postgresql": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}


@dataclass(frozen=True, slots=True)
class Unsupported:
    reason: str


Change = tuple[str, ...] | Rebuild | Unsupported


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """One out-of-band change and the finding it must produce."""

    id: str
    kind: FindingKind
    table: str
    name: str | None
    postgresql: Change
    mysql: Change
    sqlite: Change
    expected: str | None = None  # substring of Finding.expected (models side), when given
    actual: str | None = None  # substring of Finding.actual (live side), when given
    compare_server_default: bool = False
    # a dialect that stores the change as something else reports that kind instead
    reported_as: tuple[tuple[str, FindingKind], ...] = ()
    # the snapshot comparison's sides are the server's words ("character varying(50)" on
    # PostgreSQL): where they differ from alembic's, these substrings stand for them
    snapshot_expected: str | None = None
    snapshot_actual: str | None = None
    snapshot_only: bool = False  # a kind alembic's comparison cannot see
    # as reported_as, for the snapshot comparison only
    snapshot_reported_as: tuple[tuple[str, FindingKind], ...] = ()
    names_on: tuple[tuple[str, str], ...] = ()  # a dialect that names the object its own way

    def kind_on(self, dialect: str, comparison: str = "alembic") -> FindingKind:
        if comparison == "snapshot" and dialect in dict(self.snapshot_reported_as):
            return dict(self.snapshot_reported_as)[dialect]
        return dict(self.reported_as).get(dialect, self.kind)

    def name_on(self, dialect: str) -> str | None:
        return dict(self.names_on).get(dialect, self.name)

    def sides(self, comparison: str) -> tuple[str | None, str | None]:
        if comparison == "snapshot":
            return (self.snapshot_expected or self.expected, self.snapshot_actual or self.actual)
        return self.expected, self.actual


NO_COMMENTS = Unsupported("SQLite cannot store table or column comments")
NO_ENUM_TYPES = Unsupported("SQLite has no enum types: an Enum column is a VARCHAR")
# PostgreSQL cannot drop a label: a type without it replaces the old one, as a migration would
PG_ENUM_WITHOUT_STAFF = (
    "ALTER TYPE user_role RENAME TO user_role_old",
    "CREATE TYPE user_role AS ENUM ('customer')",
    "ALTER TABLE users ALTER COLUMN role TYPE user_role USING role::text::user_role",
    "DROP TYPE user_role_old",
)
SQLITE_ORDERS_CHECK = ", \n\tCONSTRAINT ck_orders_total_not_negative CHECK (total >= 0)"
SQLITE_USERS_NAME = "name VARCHAR(100)"
SQLITE_NOTE = "note TEXT, "

DRIFTS = [
    Drift(
        id="missing_table",
        kind=FindingKind.MISSING_TABLE,
        table="orders",
        name=None,
        postgresql=("DROP TABLE orders",),
        mysql=("DROP TABLE orders",),
        sqlite=("DROP TABLE orders",),
        expected="table",
    ),
    Drift(
        id="extra_table",
        kind=FindingKind.EXTRA_TABLE,
        table="coupons",
        name=None,
        postgresql=("CREATE TABLE coupons (id INTEGER PRIMARY KEY, code VARCHAR(20))",),
        mysql=("CREATE TABLE coupons (id INTEGER PRIMARY KEY, code VARCHAR(20))",),
        sqlite=("CREATE TABLE coupons (id INTEGER PRIMARY KEY, code VARCHAR(20))",),
        actual="table",
    ),
    Drift(
        id="missing_column",
        kind=FindingKind.MISSING_COLUMN,
        table="orders",
        name="note",
        postgresql=("ALTER TABLE orders DROP COLUMN note",),
        mysql=("ALTER TABLE orders DROP COLUMN note",),
        sqlite=("ALTER TABLE orders DROP COLUMN note",),
        expected="TEXT",
    ),
    Drift(
        id="extra_column",
        kind=FindingKind.EXTRA_COLUMN,
        table="users",
        name="nickname",
        postgresql=("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",),
        mysql=("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",),
        sqlite=("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",),
        actual="VARCHAR(40)",
        snapshot_actual="(40)",
    ),
    Drift(
        id="type_mismatch",
        kind=FindingKind.TYPE_MISMATCH,
        table="users",
        name="name",
        postgresql=("ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50)",),
        mysql=("ALTER TABLE users MODIFY name VARCHAR(50) NULL",),
        sqlite=Rebuild("users", ((SQLITE_USERS_NAME, "name VARCHAR(50)"),)),
        expected="VARCHAR(100)",
        actual="VARCHAR(50)",
        snapshot_expected="(100)",
        snapshot_actual="(50)",
    ),
    Drift(
        id="nullable_mismatch",
        kind=FindingKind.NULLABLE_MISMATCH,
        table="orders",
        name="note",
        postgresql=("ALTER TABLE orders ALTER COLUMN note SET NOT NULL",),
        mysql=(
            "ALTER TABLE orders MODIFY note TEXT NOT NULL COMMENT 'free text from the customer'",
        ),
        sqlite=Rebuild("orders", ((SQLITE_NOTE, "note TEXT NOT NULL, "),)),
        expected="NULL",
        actual="NOT NULL",
    ),
    Drift(
        id="default_mismatch",
        kind=FindingKind.DEFAULT_MISMATCH,
        table="orders",
        name="status",
        postgresql=("ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'open'",),
        mysql=("ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'open'",),
        sqlite=Rebuild("orders", (("DEFAULT 'new'", "DEFAULT 'open'"),)),
        expected="new",
        actual="open",
        compare_server_default=True,
    ),
    Drift(
        id="generated_mismatch",
        kind=FindingKind.GENERATED_MISMATCH,
        table="orders",
        name="note",
        postgresql=(
            "ALTER TABLE orders DROP COLUMN note, "
            "ADD COLUMN note TEXT GENERATED ALWAYS AS (status) STORED",
            "COMMENT ON COLUMN orders.note IS 'free text from the customer'",
        ),
        mysql=(
            "ALTER TABLE orders MODIFY note TEXT AS (status) PERSISTENT "
            "COMMENT 'free text from the customer'",
        ),
        sqlite=Rebuild(
            "orders", ((SQLITE_NOTE, "note TEXT GENERATED ALWAYS AS (status) STORED, "),)
        ),
        actual="GENERATED ALWAYS AS",
        compare_server_default=True,
    ),
    Drift(
        id="missing_index",
        kind=FindingKind.MISSING_INDEX,
        table="users",
        name="ix_users_name",
        postgresql=("DROP INDEX ix_users_name",),
        mysql=("DROP INDEX ix_users_name ON users",),
        sqlite=("DROP INDEX ix_users_name",),
        expected="INDEX (name)",
        snapshot_expected="(name)",
    ),
    Drift(
        id="extra_index",
        kind=FindingKind.EXTRA_INDEX,
        table="users",
        name="ix_users_created_at",
        postgresql=("CREATE INDEX ix_users_created_at ON users (created_at)",),
        mysql=("CREATE INDEX ix_users_created_at ON users (created_at)",),
        sqlite=("CREATE INDEX ix_users_created_at ON users (created_at)",),
        actual="INDEX (created_at)",
        snapshot_actual="(created_at)",
    ),
    Drift(
        id="missing_unique",
        kind=FindingKind.MISSING_UNIQUE,
        table="users",
        name="uq_users_email",
        postgresql=("ALTER TABLE users DROP CONSTRAINT uq_users_email",),
        mysql=("ALTER TABLE users DROP INDEX uq_users_email",),
        sqlite=Rebuild("users", ((", \n\tCONSTRAINT uq_users_email UNIQUE (email)", ""),)),
        expected="UNIQUE (email)",
        snapshot_expected="(email)",
        # MySQL has unique indexes only: both snapshots hold the constraint as one
        snapshot_reported_as=(("mysql", FindingKind.MISSING_INDEX),),
    ),
    Drift(
        id="extra_unique",
        kind=FindingKind.EXTRA_UNIQUE,
        table="users",
        name="uq_users_name",
        postgresql=("ALTER TABLE users ADD CONSTRAINT uq_users_name UNIQUE (name)",),
        mysql=("ALTER TABLE users ADD CONSTRAINT uq_users_name UNIQUE (name)",),
        sqlite=Rebuild(
            "users",
            (
                (
                    "CONSTRAINT uq_users_email UNIQUE (email)",
                    "CONSTRAINT uq_users_email UNIQUE (email), "
                    "CONSTRAINT uq_users_name UNIQUE (name)",
                ),
            ),
        ),
        actual="UNIQUE",
        # MySQL keeps a unique constraint as a unique index, indistinguishable from
        # CREATE UNIQUE INDEX; alembic reports it as an index (actual "UNIQUE INDEX (name)")
        reported_as=(("mysql", FindingKind.EXTRA_INDEX),),
    ),
    Drift(
        id="missing_foreign_key",
        kind=FindingKind.MISSING_FOREIGN_KEY,
        table="orders",
        name="fk_orders_user_id_users",
        postgresql=("ALTER TABLE orders DROP CONSTRAINT fk_orders_user_id_users",),
        mysql=("ALTER TABLE orders DROP FOREIGN KEY fk_orders_user_id_users",),
        sqlite=Rebuild(
            "orders",
            (
                (
                    ", \n\tCONSTRAINT fk_orders_user_id_users FOREIGN KEY(user_id) "
                    "REFERENCES users (id) ON DELETE CASCADE",
                    "",
                ),
            ),
        ),
        expected="(user_id) REFERENCES users (id) ON DELETE CASCADE",
    ),
    Drift(
        id="extra_foreign_key",
        kind=FindingKind.EXTRA_FOREIGN_KEY,
        table="orders",
        name="fk_orders_id_users",
        postgresql=(
            "ALTER TABLE orders ADD CONSTRAINT fk_orders_id_users "
            "FOREIGN KEY (id) REFERENCES users (id)",
        ),
        mysql=(
            "ALTER TABLE orders ADD CONSTRAINT fk_orders_id_users "
            "FOREIGN KEY (id) REFERENCES users (id)",
        ),
        sqlite=Rebuild(
            "orders",
            (
                (
                    "CONSTRAINT pk_orders PRIMARY KEY (id), ",
                    "CONSTRAINT pk_orders PRIMARY KEY (id), CONSTRAINT fk_orders_id_users "
                    "FOREIGN KEY(id) REFERENCES users (id), ",
                ),
            ),
        ),
        actual="(id) REFERENCES users (id)",
    ),
    Drift(
        id="comment_mismatch_table",
        kind=FindingKind.COMMENT_MISMATCH,
        table="users",
        name=None,
        postgresql=("COMMENT ON TABLE users IS 'customers'",),
        mysql=("ALTER TABLE users COMMENT = 'customers'",),
        sqlite=NO_COMMENTS,
        expected="people who order",
        actual="customers",
    ),
    Drift(
        id="comment_mismatch_table_extra",
        kind=FindingKind.COMMENT_MISMATCH,
        table="orders",
        name=None,
        postgresql=("COMMENT ON TABLE orders IS 'legacy'",),
        mysql=("ALTER TABLE orders COMMENT = 'legacy'",),
        sqlite=NO_COMMENTS,
        actual="legacy",
    ),
    Drift(
        id="comment_mismatch_column",
        kind=FindingKind.COMMENT_MISMATCH,
        table="orders",
        name="note",
        postgresql=("COMMENT ON COLUMN orders.note IS 'internal'",),
        mysql=("ALTER TABLE orders MODIFY note TEXT NULL COMMENT 'internal'",),
        sqlite=NO_COMMENTS,
        expected="free text from the customer",
        actual="internal",
    ),
    Drift(
        id="missing_enum_value",
        kind=FindingKind.MISSING_ENUM_VALUE,
        table="users",
        name="role",
        postgresql=PG_ENUM_WITHOUT_STAFF,
        mysql=("ALTER TABLE users MODIFY role ENUM('customer') NULL",),
        sqlite=NO_ENUM_TYPES,
        expected="'customer', 'staff'",
        actual="'customer'",
    ),
    Drift(
        id="extra_enum_value",
        kind=FindingKind.EXTRA_ENUM_VALUE,
        table="users",
        name="role",
        postgresql=("ALTER TYPE user_role ADD VALUE 'admin'",),
        mysql=("ALTER TABLE users MODIFY role ENUM('customer', 'staff', 'admin') NULL",),
        sqlite=NO_ENUM_TYPES,
        expected="'customer', 'staff'",
        actual="'admin'",
    ),
    Drift(
        id="missing_check",
        kind=FindingKind.MISSING_CHECK,
        table="orders",
        name="ck_orders_total_not_negative",
        postgresql=("ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",),
        mysql=("ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",),
        sqlite=Rebuild("orders", ((SQLITE_ORDERS_CHECK, ""),)),
        expected="CHECK (total >= 0)",
        snapshot_expected=">= 0",
    ),
    Drift(
        id="extra_check",
        kind=FindingKind.EXTRA_CHECK,
        table="users",
        name="ck_users_email_not_empty",
        postgresql=(
            "ALTER TABLE users ADD CONSTRAINT ck_users_email_not_empty CHECK (email <> '')",
        ),
        mysql=("ALTER TABLE users ADD CONSTRAINT ck_users_email_not_empty CHECK (email <> '')",),
        sqlite=Rebuild(
            "users",
            (
                (
                    "CONSTRAINT uq_users_email UNIQUE (email)",
                    "CONSTRAINT uq_users_email UNIQUE (email), "
                    "CONSTRAINT ck_users_email_not_empty CHECK (email <> '')",
                ),
            ),
        ),
        actual="email",
    ),
    # --- what only the snapshot comparison sees ----------------------------------------
    Drift(
        id="primary_key_mismatch",
        kind=FindingKind.PRIMARY_KEY_MISMATCH,
        table="orders",
        name="pk_orders",
        postgresql=(
            "ALTER TABLE orders DROP CONSTRAINT pk_orders",
            "ALTER TABLE orders ADD CONSTRAINT pk_orders PRIMARY KEY (id, user_id)",
        ),
        mysql=("ALTER TABLE orders DROP PRIMARY KEY, ADD PRIMARY KEY (id, user_id)",),
        sqlite=Rebuild("orders", (("PRIMARY KEY (id)", "PRIMARY KEY (id, user_id)"),)),
        expected="PRIMARY KEY (id)",
        actual="PRIMARY KEY (id, user_id)",
        snapshot_only=True,
        names_on=(("mysql", "PRIMARY"),),  # MySQL names every primary key PRIMARY
    ),
    Drift(
        id="check_mismatch",
        kind=FindingKind.CHECK_MISMATCH,
        table="orders",
        name="ck_orders_total_not_negative",
        postgresql=(
            "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",
            "ALTER TABLE orders ADD CONSTRAINT ck_orders_total_not_negative CHECK (total >= 1)",
        ),
        mysql=(
            "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",
            "ALTER TABLE orders ADD CONSTRAINT ck_orders_total_not_negative CHECK (total >= 1)",
        ),
        sqlite=Rebuild("orders", (("CHECK (total >= 0)", "CHECK (total >= 1)"),)),
        expected=">= 0",
        actual=">= 1",
        snapshot_only=True,
    ),
    Drift(
        id="foreign_key_mismatch",
        kind=FindingKind.FOREIGN_KEY_MISMATCH,
        table="orders",
        name="fk_orders_user_id_users",
        postgresql=(
            "ALTER TABLE orders DROP CONSTRAINT fk_orders_user_id_users",
            "ALTER TABLE orders ADD CONSTRAINT fk_orders_user_id_users "
            "FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT",
        ),
        mysql=(
            "ALTER TABLE orders DROP FOREIGN KEY fk_orders_user_id_users",
            "ALTER TABLE orders ADD CONSTRAINT fk_orders_user_id_users "
            "FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT",
        ),
        sqlite=Rebuild("orders", (("ON DELETE CASCADE", "ON DELETE RESTRICT"),)),
        expected="ON DELETE CASCADE",
        snapshot_only=True,
    ),
    Drift(
        id="index_mismatch",
        kind=FindingKind.INDEX_MISMATCH,
        table="users",
        name="ix_users_name",
        postgresql=(
            "DROP INDEX ix_users_name",
            "CREATE INDEX ix_users_name ON users (name) WHERE active",
        ),
        mysql=(
            "DROP INDEX ix_users_name ON users",
            "CREATE INDEX ix_users_name ON users (name(10))",
        ),
        sqlite=(
            "DROP INDEX ix_users_name",
            "CREATE INDEX ix_users_name ON users (name) WHERE active",
        ),
        expected="(name)",
        snapshot_only=True,
    ),
    Drift(
        id="unique_mismatch",
        kind=FindingKind.UNIQUE_MISMATCH,
        table="users",
        name="uq_users_email",
        postgresql=(
            "ALTER TABLE users DROP CONSTRAINT uq_users_email",
            "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email, name)",
        ),
        mysql=(
            "ALTER TABLE users DROP INDEX uq_users_email",
            "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email, name)",
        ),
        sqlite=Rebuild("users", (("UNIQUE (email)", "UNIQUE (email, name)"),)),
        expected="(email)",
        actual="(email, name)",
        # MySQL keeps a unique constraint as a unique index (see extra_unique)
        reported_as=(("mysql", FindingKind.INDEX_MISMATCH),),
        snapshot_only=True,
    ),
    Drift(
        id="enum_order_mismatch",
        kind=FindingKind.ENUM_ORDER_MISMATCH,
        table="users",
        name="role",
        postgresql=(
            "ALTER TYPE user_role RENAME TO user_role_old",
            "CREATE TYPE user_role AS ENUM ('staff', 'customer')",
            "ALTER TABLE users ALTER COLUMN role TYPE user_role USING role::text::user_role",
            "DROP TYPE user_role_old",
        ),
        mysql=("ALTER TABLE users MODIFY role ENUM('staff', 'customer') NULL",),
        sqlite=NO_ENUM_TYPES,
        expected="'customer', 'staff'",
        actual="'staff', 'customer'",
        snapshot_only=True,
    ),
    Drift(
        id="collation_mismatch",
        kind=FindingKind.COLLATION_MISMATCH,
        table="orders",
        name="note",
        postgresql=('ALTER TABLE orders ALTER COLUMN note TYPE TEXT COLLATE "C"',),
        mysql=(
            "ALTER TABLE orders MODIFY note TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin "
            "NULL COMMENT 'free text from the customer'",
        ),
        sqlite=Rebuild("orders", ((SQLITE_NOTE, "note TEXT COLLATE NOCASE, "),)),
        snapshot_only=True,
    ),
    Drift(
        id="identity_mismatch",
        kind=FindingKind.IDENTITY_MISMATCH,
        table="orders",
        name="id",
        postgresql=(
            "ALTER TABLE orders ALTER COLUMN id DROP DEFAULT",
            "ALTER TABLE orders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY",
        ),
        mysql=("ALTER TABLE orders MODIFY id INTEGER NOT NULL",),
        sqlite=Unsupported("SQLite has no identity columns (AUTOINCREMENT is its own thing)"),
        snapshot_only=True,
    ),
    Drift(
        id="extra_view",
        kind=FindingKind.EXTRA_VIEW,
        table="active_users",
        name=None,
        postgresql=("CREATE VIEW active_users AS SELECT id FROM users WHERE active",),
        mysql=("CREATE VIEW active_users AS SELECT id FROM users WHERE active",),
        sqlite=("CREATE VIEW active_users AS SELECT id FROM users WHERE active",),
        actual="SELECT",
        snapshot_only=True,
    ),
    Drift(
        id="extra_sequence",
        kind=FindingKind.EXTRA_SEQUENCE,
        table="invoice_no",
        name=None,
        postgresql=("CREATE SEQUENCE invoice_no",),
        mysql=Unsupported("MySQL has no sequences (MariaDB's are not read)"),
        sqlite=Unsupported("SQLite has no sequences"),
        actual="bigint",
        snapshot_only=True,
    ),
    Drift(
        id="missing_sequence",
        kind=FindingKind.MISSING_SEQUENCE,
        table="users_id_seq",
        name=None,
        postgresql=(
            "ALTER TABLE users ALTER COLUMN id DROP DEFAULT",
            "DROP SEQUENCE users_id_seq",
        ),
        mysql=Unsupported("MySQL has no sequences"),
        sqlite=Unsupported("SQLite has no sequences"),
        expected="OWNED BY users.id",
        snapshot_only=True,
    ),
    Drift(
        id="sequence_mismatch",
        kind=FindingKind.SEQUENCE_MISMATCH,
        table="users_id_seq",
        name=None,
        postgresql=("ALTER SEQUENCE users_id_seq INCREMENT BY 5",),
        mysql=Unsupported("MySQL has no sequences"),
        sqlite=Unsupported("SQLite has no sequences"),
        expected="INCREMENT 1",
        actual="INCREMENT 5",
        snapshot_only=True,
    ),
    Drift(
        id="extra_enum",
        kind=FindingKind.EXTRA_ENUM,
        table="mood",
        name=None,
        postgresql=("CREATE TYPE mood AS ENUM ('ok', 'sad')",),
        mysql=Unsupported("MySQL's ENUM is a column type"),
        sqlite=NO_ENUM_TYPES,
        actual="'ok', 'sad'",
        snapshot_only=True,
    ),
]


def test_every_finding_kind_has_a_case() -> None:
    """The matrix here and the snapshot pairs of test_snapshot_coverage together cover every
    public finding kind except the catch-all `other`."""
    covered = {drift.kind for drift in DRIFTS} | COVERED_KINDS
    assert covered == set(FindingKind) - {FindingKind.OTHER}


def _check(url: URL, **fields: object) -> TargetReport:
    report = asyncio.run(check_target(shop_target(url, **fields)))
    assert report.error is None, report.error
    return report


def comparing(comparison: str, url: URL) -> dict[str, object]:
    """Target fields for a comparison path; MySQL builds expected states on its own server."""
    fields: dict[str, object] = {"comparison": comparison}
    if comparison == "snapshot" and url.get_backend_name() == "mysql":
        fields["scratch_url"] = url
    return fields


def _findings(report: TargetReport) -> tuple[Finding, ...]:
    assert report.schema is not None and report.schema.compared
    return report.schema.findings


def _apply(url: URL, change: Change) -> None:
    if isinstance(change, Unsupported):
        pytest.skip(change.reason)
    if isinstance(change, Rebuild):
        rebuild_sqlite_table(url, change)
    else:
        execute(url, *change)


@pytest.mark.parametrize("comparison", COMPARISONS)
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("drift", DRIFTS, ids=[d.id for d in DRIFTS])
def test_out_of_band_change_gives_one_finding(
    drift: Drift, dialect: str, comparison: str, request: pytest.FixtureRequest
) -> None:
    """One out-of-band change on a database at head yields exactly the finding it should,
    through the snapshot comparison and through alembic's (where alembic can see it)."""
    change: Change = getattr(drift, dialect)
    if isinstance(change, Unsupported):
        pytest.skip(change.reason)
    if drift.snapshot_only and comparison == "alembic":
        pytest.skip(f"alembic's comparison does not see a {drift.kind.value}")
    url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    migrate(url, "head")
    _apply(url, change)

    report = _check(
        url, compare_server_default=drift.compare_server_default, **comparing(comparison, url)
    )

    assert report.schema is not None and report.schema.method == METHOD[comparison]
    found = [(f.kind, f.table, f.name) for f in _findings(report)]
    assert found == [(drift.kind_on(dialect, comparison), drift.table, drift.name_on(dialect))]
    (finding,) = _findings(report)
    assert (finding.attribution, finding.revision) == (ATTRIBUTION[comparison], None)
    assert finding.actual != finding.expected
    assert finding.schema == report_default_schema(url, dialect)
    assert finding.message
    assert "\n" not in finding.message
    expected, actual = drift.sides(comparison)
    if expected is not None:
        assert finding.expected is not None
        assert expected.lower() in finding.expected.lower()
    if actual is not None:
        assert finding.actual is not None
        assert actual.lower() in finding.actual.lower()
    assert report.status().value == "out_of_sync"


def report_default_schema(url: URL, dialect: str) -> str:
    """What a finding names as schema for a table in the default schema of each dialect."""
    return {"postgresql": "public", "mysql": str(url.database), "sqlite": "main"}[dialect]


@pytest.mark.parametrize("comparison", COMPARISONS)
@pytest.mark.parametrize("compare_server_default", [False, True])
def test_fresh_database_at_head_has_no_findings(
    any_url: URL, compare_server_default: bool, comparison: str
) -> None:
    """A database migrated to head with matching models reports zero findings (no false
    alarm), through either comparison."""
    migrate(any_url, "head")

    report = _check(
        any_url, compare_server_default=compare_server_default, **comparing(comparison, any_url)
    )

    assert report.schema is not None and report.schema.method == METHOD[comparison]
    assert _findings(report) == ()
    assert report.revision is not None and report.revision.kind.value == "at_head"
    assert report.status().value == "in_sync"


def test_missing_table_hides_the_details_of_that_table(any_url: URL) -> None:
    """A dropped table is one finding, not one per column, index and foreign key as well."""
    migrate(any_url, "head")
    execute(any_url, "DROP TABLE orders")

    kinds = [f.kind for f in _findings(_check(any_url, compare_server_default=True))]

    assert kinds == [FindingKind.MISSING_TABLE]


def test_several_changes_are_all_reported_sorted_by_table(any_url: URL) -> None:
    """Changes to two tables come back together, ordered by table then kind."""
    migrate(any_url, "head")
    execute(
        any_url,
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",
        "CREATE INDEX ix_orders_total ON orders (total)",
        "CREATE TABLE coupons (id INTEGER PRIMARY KEY)",
    )

    found = [(f.table, f.kind, f.name) for f in _findings(_check(any_url))]

    assert found == [
        ("coupons", FindingKind.EXTRA_TABLE, None),
        ("orders", FindingKind.EXTRA_INDEX, "ix_orders_total"),
        ("users", FindingKind.EXTRA_COLUMN, "nickname"),
    ]


def test_compare_type_off_ignores_a_type_change(pg_url: URL) -> None:
    """With compare_type=False a changed column type is not a finding (the option is read)."""
    migrate(pg_url, "head")
    execute(pg_url, "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50)")

    assert _findings(_check(pg_url, compare_type=False)) == ()
    assert [f.kind for f in _findings(_check(pg_url, compare_type=True))] == [
        FindingKind.TYPE_MISMATCH
    ]


def test_compare_server_default_off_ignores_a_default_change(any_url: URL) -> None:
    """Server defaults are compared only when compare_server_default is set."""
    migrate(any_url, "head")
    if any_url.get_backend_name() == "sqlite":
        rebuild_sqlite_table(any_url, Rebuild("orders", (("DEFAULT 'new'", "DEFAULT 'open'"),)))
    else:
        execute(any_url, "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'open'")

    assert _findings(_check(any_url)) == ()
    assert [f.kind for f in _findings(_check(any_url, compare_server_default=True))] == [
        FindingKind.DEFAULT_MISMATCH
    ]


def test_mysql_default_spellings_are_not_drift_but_changed_values_are(mysql_url: URL) -> None:
    """MariaDB keeps TRUE as 1 and NOW() as current_timestamp(): equal, while 0 is a change."""
    migrate(mysql_url, "head")
    assert _findings(_check(mysql_url, compare_server_default=True)) == ()

    execute(mysql_url, "ALTER TABLE users ALTER COLUMN active SET DEFAULT 0")

    (finding,) = _findings(_check(mysql_url, compare_server_default=True))
    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.DEFAULT_MISMATCH,
        "users",
        "active",
    )
    assert (finding.expected, finding.actual) == ("true", "0")


def test_postgres_default_calling_nextval_is_compared_without_running_it(pg_url: URL) -> None:
    """A live default of nextval(...) is a default_mismatch; the sequence is not advanced."""
    migrate(pg_url, "head")
    execute(
        pg_url,
        "CREATE SEQUENCE order_status_seq",
        "ALTER TABLE orders ALTER COLUMN status SET DEFAULT nextval('order_status_seq')::text",
    )

    findings = _findings(_check(pg_url, compare_server_default=True))

    # the snapshot sees the new sequence as well, and says so apart
    assert [f.kind for f in findings] == [FindingKind.EXTRA_SEQUENCE, FindingKind.DEFAULT_MISMATCH]
    finding = findings[1]
    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.DEFAULT_MISMATCH,
        "orders",
        "status",
    )
    assert finding.actual is not None and "nextval('order_status_seq'" in finding.actual
    assert query(pg_url, "SELECT is_called FROM order_status_seq") == [(False,)]
