"""Migrations: up to head, no drift from the models, down to base, on both databases."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from app.core.migrations import alembic_config, migrate
from tests.conftest import BACKENDS

TABLES = {"users", "sessions", "items", "login_throttles"}


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        yield request.getfixturevalue("scratch_postgres")


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_upgrade(empty_database: str) -> None:
    config = alembic_config(empty_database)
    migrate(empty_database)
    assert table_names(empty_database) >= TABLES
    command.check(config)  # raises when the models and the migrations disagree
    command.downgrade(config, "base")
    assert table_names(empty_database) == {"alembic_version"}
    migrate(empty_database)
    assert table_names(empty_database) >= TABLES


def test_constraints_follow_the_naming_convention(empty_database: str) -> None:
    migrate(empty_database)
    engine = create_engine(empty_database)
    try:
        inspector = inspect(engine)
        assert inspector.get_pk_constraint("users")["name"] == "pk_users"
        foreign_keys = {fk["name"]: fk for fk in inspector.get_foreign_keys("items")}
        assert foreign_keys["fk_items_owner_id_users"]["options"].get("ondelete") == "CASCADE"
        session_fks = {fk["name"] for fk in inspector.get_foreign_keys("sessions")}
        assert session_fks == {"fk_sessions_user_id_users"}
        uniques = {uq["name"] for uq in inspector.get_unique_constraints("users")}
        assert "uq_users_email" in uniques
        indexes = {index["name"] for index in inspector.get_indexes("items")}
        assert {"ix_items_owner_id_created_at_id", "ix_items_created_at_id"} <= indexes
    finally:
        engine.dispose()


def test_offline_sql_renders(empty_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(alembic_config(empty_database), "head", sql=True)
    output = capsys.readouterr().out
    assert "CREATE TABLE users" in output
    assert "CREATE TABLE sessions" in output
