"""Runs only when tests migrate the scenario; driftwatch itself never executes env.py."""

from alembic import context

from tests.scenarios.traces.models import metadata, pg_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=pg_metadata if connection.dialect.name == "postgresql" else metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
