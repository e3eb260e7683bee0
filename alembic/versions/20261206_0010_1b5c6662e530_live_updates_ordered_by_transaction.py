"""live updates ordered by transaction: no lock at commit on PostgreSQL

The change log's trigger on PostgreSQL no longer takes an advisory lock (it made every
transaction writing items or users commit one at a time). Each change records its
transaction instead (`tx`, the 64-bit `pg_current_xact_id()`), and readers take only
the changes of transactions that are over, in (tx, id) order (`app.services.live`).
Pruning keeps the newest KEPT rows, never a row readers cannot see yet, and skips rows
another transaction is pruning rather than waiting for it. SQLite leaves `tx` empty:
its writes are serialized, so ids already follow the commit order.

Revision ID: 1b5c6662e530
Revises: 086f094896f9
Create Date: 2026-12-06 00:10:00.000000+00:00
"""

# ruff: noqa: S608 - the SQL here is built from this module's constants only

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1b5c6662e530"
down_revision: str | Sequence[str] | None = "086f094896f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT = 10_000
LOCK = 0x4C49_5645  # the advisory lock of the previous revision
XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"  # oldest transaction running

ORDERED_BY_TRANSACTION = (
    "",
    ", tx",
    ", pg_current_xact_id()::text::bigint",
    f"""DELETE FROM changes WHERE id IN (
        SELECT id FROM changes WHERE id <= change_id - {KEPT} AND tx < {XMIN}
        FOR UPDATE SKIP LOCKED
    );""",
)
ORDERED_BY_LOCK = (
    f"PERFORM pg_advisory_xact_lock({LOCK});",
    "",
    "",
    f"DELETE FROM changes WHERE id <= change_id - {KEPT};",
)


def _function(lock: str, tx_column: str, tx: str, prune: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    change_id bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
    {lock}
    INSERT INTO changes (resource, type, record_id, owner_id{tx_column})
    VALUES (
        TG_TABLE_NAME,
        CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END,
        changed.id,
        (to_jsonb(changed) ->> 'owner_id')::uuid{tx}
    )
    RETURNING id INTO change_id;
    {prune}
    PERFORM pg_notify('changes', change_id::text);
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column("changes", sa.Column("tx", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE changes SET tx = 0")  # all committed: before any new change
        op.execute(_function(*ORDERED_BY_TRANSACTION))
    op.create_index("ix_changes_tx_id", "changes", ["tx", "id"])


def downgrade() -> None:
    op.drop_index("ix_changes_tx_id", table_name="changes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(*ORDERED_BY_LOCK))
    # Not a batch (SQLite would copy the table, which the triggers name): SQLite
    # drops a column in place since 3.35.
    op.drop_column("changes", "tx")
