"""What `synchronous=FULL` costs SQLite writes: commits per second, NORMAL against FULL.

`python -m bench.sqlite_durability [directory]` (default: the current directory; run
it on the disk that will hold the database). Each commit inserts one row of the
size of an item, in WAL mode, the way the service writes; the two modes alternate
over 3 rounds so drift hits both alike, and the medians are printed.
"""

import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

COMMITS = 500
ROUNDS = 3


def commits_per_second(directory: Path, synchronous: str) -> float:
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        connection = sqlite3.connect(Path(scratch) / "durability.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE items (id TEXT PRIMARY KEY, title TEXT, body TEXT)")
        started = time.perf_counter()
        for number in range(COMMITS):
            connection.execute("BEGIN")
            connection.execute(
                "INSERT INTO items VALUES (?, ?, ?)",
                (uuid.uuid4().hex, f"item {number}", "x" * 200),
            )
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    return COMMITS / elapsed


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    rates: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for _ in range(ROUNDS):
        for mode, measured in rates.items():
            measured.append(commits_per_second(directory, mode))
    normal, full = (statistics.median(rates[mode]) for mode in ("NORMAL", "FULL"))
    print(f"SQLite WAL, {COMMITS} single-row commits x {ROUNDS} rounds in {directory.resolve()}")
    print(f"  synchronous=NORMAL  {normal:9,.0f} commits/s")
    print(f"  synchronous=FULL    {full:9,.0f} commits/s  ({full / normal:.2f} x NORMAL)")


if __name__ == "__main__":
    main()
