"""Alembic environment: always run by ``syndicate.store`` with a live connection in ``attributes``."""

from alembic import context

from syndicate.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
