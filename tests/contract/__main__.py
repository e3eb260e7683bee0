"""The contract run: schemathesis, all checks, against the real server on one database.

    python -m tests.contract sqlite
    python -m tests.contract postgresql   # on TEST_DATABASE_URL's server

It starts `python -m app serve` on a free port and a scratch database, then runs
schemathesis with every check for a bounded time and a fixed seed (reproducible),
signed in as an admin (see `hooks.py`). Exit status: schemathesis's (0: no failure).
"""

import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.config import Settings
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.helpers import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("CONTRACT_SECONDS", "75"))
SEED = os.environ.get("CONTRACT_SEED", "20261127")
ADMIN_EMAIL, ADMIN_PASSWORD = "contract-admin@example.com", "contract admin password"


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """A new empty database on `backend`, dropped afterwards; yields its URL."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/contract.db"
        return
    server = Settings(_env_file=None, database_url=os.environ["TEST_DATABASE_URL"]).database_url
    name = f"contract_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(server, name)
    try:
        yield url
    finally:
        drop_postgres_database(server, name)


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """The service on a free port over `database_url`; yields its base URL."""
    port = free_port()
    settings = {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "BCRYPT_ROUNDS": "4",
        "FIRST_ADMIN_EMAIL": ADMIN_EMAIL,
        "FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # The fuzzer guesses passwords by the thousand; throttling has its own tests.
        "LOGIN_MAX_FAILURES_PER_EMAIL": "1000000",
        "LOGIN_MAX_FAILURES_PER_IP": "1000000",
        "PASSWORD_RESET_MAX_PER_EMAIL": "1000000",
        "PASSWORD_RESET_MAX_PER_IP": "1000000",
        "LOG_LEVEL": "warning",
        "LIVE_MAX_STREAM_SECONDS": "0.5",  # every live stream ends, so its request does
    }
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "server.log"
        files = str(Path(directory) / "attachments")  # the uploads go with the run
        server = start_server(
            port, log, database_url=database_url, ATTACHMENT_DIR=files, **settings
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=60)
            sys.stderr.write(log.read_text())  # what the server logged, after the run


def main(backend: str) -> int:
    report = ROOT / f"contract-{backend}.xml"
    with scratch_database(backend) as database_url, serving(database_url) as base:
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
            "CONTRACT_BASE_URL": base,
            "CONTRACT_ADMIN_EMAIL": ADMIN_EMAIL,
            "CONTRACT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CONTRACT_DATABASE_URL": database_url,
        }
        command = [
            sys.executable, "-m", "schemathesis.cli",
            "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
            "run", f"{base}/api/v1/openapi.json",
            "--checks", "all", "--max-time", str(SECONDS), "--seed", SEED,
            "--workers", "1", "--no-color", "--generation-database", "none",
            "--report", "junit", "--report-junit-path", str(report),
        ]  # fmt: skip
        return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("sqlite", "postgresql"):
        raise SystemExit("usage: python -m tests.contract sqlite|postgresql")
    sys.exit(main(sys.argv[1]))
