"""The servers under test: uvicorn with 2 workers, no access log, output kept in a file.

The service is served as `python -m app serve` serves it (its HTTP protocol with
bounded request heads, no proxy headers or server header, its logging configuration,
so audit events are logged as in production), but without the access log; the limit
apps are plain uvicorn apps. A server is ready once every worker has logged
"Application startup complete." and it answers over HTTP. Its workers are the
uvicorn master's children started by multiprocessing's `spawn`; their memory is read
from /proc.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.logs import logging_config

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
START_SECONDS = 90
READY_LINE = "Application startup complete."
LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
EXCEPTION = re.compile(r"[\w.]*(Error|Exception|Exit|Interrupt)\b")
REQUEST_ID = re.compile(r"\[[^\]]*\] ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """A running uvicorn master serving `name` on `base`, its output in `log`."""

    name: str
    base: str
    process: "subprocess.Popen[bytes]"
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def complaints(self, limit: int = 3) -> list[str]:
        """The first distinct warnings, errors and exceptions in the log, without time
        or request id."""
        found: dict[str, None] = {}
        for line in self.output().splitlines():
            level = LEVEL.search(line)
            if level is not None:
                line = REQUEST_ID.sub("", line[level.start() :], count=1)
            if level is not None or EXCEPTION.match(line):
                found.setdefault(line[:300], None)
        return list(found)[:limit]

    def worker_pids(self) -> list[int]:
        """The worker processes: children of the master run by multiprocessing's spawn."""
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children += [int(pid) for pid in (task / "children").read_text().split()]
        return sorted(pid for pid in children if b"spawn_main" in _cmdline(pid))

    def worker_rss_kib(self) -> dict[int, int]:
        """VmRSS of each worker, in KiB."""
        return {pid: rss_kib(pid) for pid in self.worker_pids()}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def dotted_name(value: type) -> str:
    """A class in a logging configuration, as dictConfig finds it by name."""
    return f"{value.__module__}.{value.__qualname__}"


def service_options(logdir: Path) -> list[str]:
    """uvicorn options that serve the service the way `python -m app serve` does."""
    config = logdir / "logging.json"
    config.write_text(json.dumps(logging_config("info"), default=dotted_name))
    return ["--http", "app.core.server:BoundedHttpToolsProtocol", "--log-config", str(config)]


def _command(app: str, port: int, options: list[str]) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    command += ["--workers", str(WORKERS), "--no-access-log", "--log-level", "info"]
    command += ["--no-proxy-headers", "--no-server-header", *options]
    if app.endswith(":create_app"):
        command.append("--factory")
    return command


def _wait_until_ready(server: Server, ready_path: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while server.output().count(READY_LINE) < WORKERS:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not start:\n{server.output()[-3000:]}")
        time.sleep(0.2)
    httpx.get(server.base + ready_path, timeout=10)
    if len(server.worker_pids()) != WORKERS:
        raise RuntimeError(f"{server.name}: expected {WORKERS} worker processes")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def served(
    name: str,
    app: str,
    env: dict[str, str],
    *,
    logdir: Path,
    options: list[str] | None = None,
    ready_path: str = "/",
) -> Iterator[Server]:
    """Serve `app` (`module:attr`, a factory when named `create_app`) on a free port,
    with extra uvicorn `options`."""
    port = free_port()
    log = logdir / f"{name.replace(' ', '-')}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _command(app, port, options or []),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_ready(server, ready_path)
        yield server
    finally:
        _stop(process)
