"""Alembic environment: the URL comes from the app's settings, the schema from app.models."""

import importlib
import pkgutil
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine, pool, text
from sqlmodel import AutoString, SQLModel

import app.models
import app.models.fields
from app.core.config import get_settings

# Every module of app/models, so that each table (a new resource's too) is in the metadata.
for module in pkgutil.iter_modules(app.models.__path__, "app.models."):
    importlib.import_module(module.name)

config = context.config
if config.config_file_name is not None and config.cmd_opts is not None:
    fileConfig(config.config_file_name)  # only when run as `alembic ...`

target_metadata = SQLModel.metadata
MIGRATION_LOCK = 0x5A4D_4947  # the advisory lock migrations hold on PostgreSQL


def database_url() -> str:
    """The URL given by the caller (`python -m app migrate`, tests), else the settings'."""
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def render_item(
    type_: str,
    obj: Any,
    autogen_context: AutogenContext,  # noqa: ARG001 - the signature is Alembic's
) -> str | Literal[False]:
    """Write app-specific column types as the plain SQLAlchemy types they store as."""
    if type_ == "type" and isinstance(obj, app.models.fields.UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A plain engine: SQLite batch migrations must run with foreign keys off.
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            render_item=render_item,
            compare_server_default=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Instances started together migrate one at a time: the next one waits
                # here, then finds the schema up to date.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
