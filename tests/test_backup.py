"""`python -m app backup PATH` and `restore PATH` for the SQLite database: a backup taken
while a real server writes holds every write acknowledged before it started and passes
SQLite's integrity check; a restore refuses while the server runs."""

import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from app.core.migrations import PROJECT_ROOT
from tests.helpers import API, PASSWORD, TEST_SECRET, free_port, poll, start_server


def command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` on `database_url`, as a user runs it."""
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def item_titles(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {row[0] for row in db.execute("SELECT title FROM items")}


class Writer(threading.Thread):
    """Creates items through the API, one after the other, until stopped; `acknowledged`
    holds the titles the server answered 201 for, in order."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.acknowledged: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=60) as http:
            number = 0
            while not self.stop.is_set():
                title = f"item {number}"
                response = http.post(f"{API}/items", json={"title": title})
                if response.status_code == 201:
                    self.acknowledged.append(title)
                else:
                    self.failures.append(f"{response.status_code} {response.text}")
                number += 1


@pytest.mark.slow  # a real server, and the commands as processes
def test_a_backup_under_write_load_then_a_restore(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    port = free_port()
    server = start_server(port, tmp_path / "server.log", database_url=url, BCRYPT_ROUNDS="4")
    base = f"http://127.0.0.1:{port}"
    try:
        account = {"email": "writer@example.com", "password": PASSWORD}
        assert httpx.post(f"{base}{API}/auth/register", json=account).status_code == 201
        token = httpx.post(f"{base}{API}/auth/login", json=account).json()["accessToken"]
        writer = Writer(base, token)
        writer.start()
        assert poll(lambda: len(writer.acknowledged) >= 50)
        before = set(writer.acknowledged)
        made = command(url, "backup", str(tmp_path / "saved.db"))
        during = len(writer.acknowledged) - len(before)
        assert poll(lambda: len(writer.acknowledged) >= len(before) + during + 20)
        writer.stop.set()
        writer.join(timeout=120)
        assert made.returncode == 0, made.stderr
        assert writer.failures == []
        saved = item_titles(tmp_path / "saved.db")
        assert before <= saved  # every write acknowledged before the backup began
        assert saved <= set(writer.acknowledged)
        assert len(saved) < len(writer.acknowledged)  # the writes after it are not in it

        refused = command(url, "restore", str(tmp_path / "saved.db"))
        assert refused.returncode == 1
        assert "is in use (is the service running?)" in refused.stderr
        assert item_titles(tmp_path / "live.db") == set(writer.acknowledged)
    finally:
        server.terminate()
        server.wait(timeout=120)

    restored = command(url, "restore", str(tmp_path / "saved.db"))
    assert restored.returncode == 0, restored.stderr
    assert item_titles(tmp_path / "live.db") == saved
    server = start_server(port, tmp_path / "server.log", database_url=url, BCRYPT_ROUNDS="4")
    try:
        token = httpx.post(f"{base}{API}/auth/login", json=account).json()["accessToken"]
        listed = httpx.get(f"{base}{API}/items", headers={"Authorization": f"Bearer {token}"})
        assert listed.json()["total"] == len(saved)
    finally:
        server.terminate()
        server.wait(timeout=120)


def test_what_backup_and_restore_refuse(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert command(url, "migrate").returncode == 0
    taken = tmp_path / "taken.db"
    assert command(url, "backup", str(taken)).returncode == 0
    again = command(url, "backup", str(taken))
    assert (again.returncode, again.stderr) == (
        1,
        f"error: {taken} already exists: choose a new file\n",
    )
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []

    missing = command(f"sqlite:///{tmp_path / 'none.db'}", "backup", str(tmp_path / "x.db"))
    assert missing.returncode == 1
    assert "there is no database at" in missing.stderr

    postgres = command("postgresql://app@127.0.0.1/app", "backup", str(tmp_path / "pg.db"))
    assert postgres.returncode == 1
    assert "pg_dump" in postgres.stderr

    stranger = tmp_path / "stranger.db"
    with closing(sqlite3.connect(stranger)) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    foreign = command(url, "restore", str(stranger))
    assert foreign.returncode == 1
    assert "is not a database of this service" in foreign.stderr

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    broken = command(url, "restore", str(garbage))
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: ")
    assert "Traceback" not in broken.stderr
