"""The traces scenario: server defaults as real projects write them.

`spans.duration_ns` is a generated column as in mlflow; `flow_runs` (PostgreSQL only, in
`pg_metadata`) takes its key from a SQL function element that compiles for PostgreSQL alone,
as prefect's `GenerateUUID` does, and other volatile defaults (`gen_random_uuid()`,
`timezone('utc', now())`) that the server evaluates anew on every call.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class GenerateUUID(FunctionElement[Any]):
    """A random UUID made by the server (prefect's construct, PostgreSQL only here)."""

    type = sa.Uuid()
    name = "uuid_default"
    inherit_cache = True


@compiles(GenerateUUID, "postgresql")
def _generate_uuid_postgresql(_element: GenerateUUID, _compiler: Any, **_kw: Any) -> str:
    return "(GEN_RANDOM_UUID())"


def _spans(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "spans",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trace_id", sa.String(50), nullable=False),
        sa.Column("start_time_unix_nano", sa.BigInteger, nullable=False),
        sa.Column("end_time_unix_nano", sa.BigInteger, nullable=True),
        sa.Column(
            "duration_ns",
            sa.BigInteger,
            sa.Computed("end_time_unix_nano - start_time_unix_nano", persisted=True),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Index(None, "trace_id"),
    )


# every dialect: the generated column and a now() default
metadata = sa.MetaData(naming_convention=NAMING)
spans = _spans(metadata)

# PostgreSQL: the same, and a table whose defaults are volatile function calls
pg_metadata = sa.MetaData(naming_convention=NAMING)
_spans(pg_metadata)
flow_runs = sa.Table(
    "flow_runs",
    pg_metadata,
    sa.Column("id", sa.Uuid, primary_key=True, server_default=GenerateUUID()),
    sa.Column("token", sa.Uuid, nullable=False, server_default=sa.func.gen_random_uuid()),
    sa.Column(
        "created",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("timezone('utc', now())"),
    ),
)
