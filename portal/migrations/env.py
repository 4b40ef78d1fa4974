"""Alembic environment of the portal database: online migrations only, URL from the caller."""
from alembic import context
from sqlalchemy import engine_from_config, pool

from portal.store import Base

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section) or {},
                                 prefix="sqlalchemy.", poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
