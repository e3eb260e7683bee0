"""Backups of the embedded SQLite database, taken online, and restoring one.

A backup is one read transaction of SQLite's backup API: a consistent snapshot of the
database, taken while the service keeps writing (in WAL mode readers and the writer do
not wait for each other). It is checked (`PRAGMA integrity_check`) before it gets its
name, so a file at the given path is always a whole backup.

A restore first takes the database's exclusive lock and holds it while it copies: a
running service keeps connections open, which refuse that lock, so a live database is
never overwritten. PostgreSQL has `pg_dump` and `pg_restore` for both.
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import make_url


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason to show."""


def sqlite_file(database_url: str) -> Path:
    """The file of a SQLite DATABASE_URL; `BackupError` for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "DATABASE_URL names PostgreSQL: back it up with pg_dump "
            "(pg_dump -Fc -f app.dump <url>) and restore with pg_restore"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("DATABASE_URL names an in-memory SQLite database: nothing to back up")
    return Path(url.database)


def backup(database_url: str, target: Path) -> Path:
    """Copy the live database to `target`, which must not exist; returns the source."""
    source = sqlite_file(database_url)
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as live,
            closing(sqlite3.connect(partial)) as copy,
        ):
            live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check(copy, partial)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return source


def restore(database_url: str, saved: Path) -> Path:
    """Replace the database with the backup `saved`, unless a process has it open;
    returns the database's file."""
    target = sqlite_file(database_url)
    if not saved.is_file():
        raise BackupError(f"there is no backup at {saved}")
    with closing(sqlite3.connect(f"{saved.resolve().as_uri()}?mode=ro", uri=True)) as backup_db:
        try:
            _check(backup_db, saved)
            tables = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{saved} is not a SQLite database: {exc}") from exc
        if "alembic_version" not in tables:
            raise BackupError(f"{saved} is not a database of this service")
        with closing(sqlite3.connect(target, timeout=0, isolation_level=None)) as live:
            live.execute("PRAGMA locking_mode=EXCLUSIVE")  # kept until closed
            try:
                live.execute("BEGIN EXCLUSIVE")
                live.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise BackupError(
                    f"{target} is in use (is the service running?): stop it, then restore"
                ) from exc
            backup_db.backup(live)
    return target


def _check(db: sqlite3.Connection, path: Path) -> None:
    result = db.execute("PRAGMA integrity_check").fetchone()
    if result is None or result[0] != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {result}")
