"""Runs only when tests migrate the scenario; driftwatch itself never executes env.py."""

from alembic import context

from tests.scenarios.audited.models import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    include_schemas=True,
    version_table_schema=context.config.attributes.get("version_table_schema"),
)
with context.begin_transaction():
    context.run_migrations()
