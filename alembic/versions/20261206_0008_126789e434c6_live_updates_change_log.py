"""live updates change log: the changes table, written by triggers on items and users

Every insert, visible update and delete of an item or a user adds a row in the same
transaction, whoever writes. On PostgreSQL the trigger runs at commit (deferred),
under an advisory lock, so ids follow the commit order, and it sends NOTIFY changes.
The newest KEPT rows are kept.

Revision ID: 126789e434c6
Revises: 0632ddcb9274
Create Date: 2026-12-06 00:08:04.568869+00:00
"""

# ruff: noqa: S608 - the SQL here is built from this module's constants only

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "126789e434c6"
down_revision: str | Sequence[str] | None = "0632ddcb9274"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT = 10_000
LOCK = 0x4C49_5645  # the advisory lock that orders changes on PostgreSQL
# The columns whose change a list would show (users: not the password hash).
SHOWN = {
    "items": ("title", "description", "owner_id", "updated_at"),
    "users": ("email", "name", "role", "is_active", "email_verified_at", "updated_at"),
}
TYPES = {"INSERT": "created", "UPDATE": "updated", "DELETE": "deleted"}

PG_FUNCTION = f"""
CREATE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    change_id bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
    PERFORM pg_advisory_xact_lock({LOCK});
    INSERT INTO changes (resource, type, record_id, owner_id)
    VALUES (
        TG_TABLE_NAME,
        CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END,
        changed.id,
        (to_jsonb(changed) ->> 'owner_id')::uuid
    )
    RETURNING id INTO change_id;
    DELETE FROM changes WHERE id <= change_id - {KEPT};
    PERFORM pg_notify('changes', change_id::text);
    RETURN NULL;
END $$
"""


def _when(table: str, operation: str, distinct: str) -> str:
    if operation != "UPDATE":
        return ""
    tests = [f"OLD.{column} {distinct} NEW.{column}" for column in SHOWN[table]]
    return f"WHEN ({' OR '.join(tests)})"


def _postgresql_trigger(table: str, operation: str) -> str:
    return (
        f"CREATE CONSTRAINT TRIGGER changes_{table}_{operation.lower()} "
        f"AFTER {operation} ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"{_when(table, operation, 'IS DISTINCT FROM')} EXECUTE FUNCTION record_change()"
    )


def _sqlite_trigger(table: str, operation: str) -> str:
    row = "OLD" if operation == "DELETE" else "NEW"
    owner = f"{row}.owner_id" if table == "items" else "NULL"
    return (
        f"CREATE TRIGGER changes_{table}_{operation.lower()} AFTER {operation} ON {table} "
        f"{_when(table, operation, 'IS NOT')} BEGIN "
        "INSERT INTO changes (resource, type, record_id, owner_id) "
        f"VALUES ('{table}', '{TYPES[operation]}', {row}.id, {owner}); "
        f"DELETE FROM changes WHERE id <= (SELECT max(id) FROM changes) - {KEPT}; END"
    )


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
        sqlite_autoincrement=True,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(PG_FUNCTION)
    for table in SHOWN:
        for operation in TYPES:
            trigger = _postgresql_trigger if postgresql else _sqlite_trigger
            op.execute(trigger(table, operation))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in SHOWN:
        for operation in TYPES:
            name = f"changes_{table}_{operation.lower()}"
            op.execute(f"DROP TRIGGER {name} ON {table}" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION record_change()")
    op.drop_table("changes")
