"""Alembic environment for dualid's own migrations.

dualid keeps its own version table (``dualid_alembic_version``) so its history lives
beside a host application's Alembic history without touching it. Run through
``dualid db upgrade`` or :func:`dualid.store.upgrade`; a host application can also point
its own tooling here with ``script_location = dualid.store:migrations``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from dualid.store._tables import metadata

VERSION_TABLE = "dualid_alembic_version"
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
