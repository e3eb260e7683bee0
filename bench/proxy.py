"""HAProxy in front of service replicas, for scenario (j) and tests/test_replicas.py
(one configuration for both): round-robin over keep-alive connections, each replica
health-checked on /health/ready, as the README's Deploy section configures it."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.servers import START_SECONDS, Server, free_port

CONFIG = """\
global
    maxconn 1024
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option http-keep-alive
    http-reuse always
    retries 2
    option redispatch
    retry-on conn-failure
frontend api
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /health/ready
    default-server check inter {check_every} fall 2 rise 2
{servers}
"""


def haproxy_config(port: int, servers: Sequence[str], *, check_every: str = "2s") -> str:
    """HAProxy's configuration, listening on 127.0.0.1:`port`: round robin over
    `servers` (host:port) on keep-alive connections, each health-checked on
    /health/ready every `check_every` and taken out after two failures; a request that
    could not connect is retried on another replica."""
    lines = (f"    server r{index} {server}" for index, server in enumerate(servers))
    return CONFIG.format(port=port, servers="\n".join(lines), check_every=check_every)


def haproxy_path() -> str | None:
    """HAProxy on PATH or where Debian puts it (apt-get install haproxy)."""
    return shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


@contextmanager
def proxied(replicas: list[Server], logdir: Path) -> Iterator[str]:
    """HAProxy balancing over `replicas`; yields its base URL once every replica is up."""
    executable = haproxy_path()
    if executable is None:
        raise RuntimeError("haproxy is missing (Debian: apt-get install haproxy)")
    port = free_port()
    servers = [replica.base.removeprefix("http://") for replica in replicas]
    config = logdir / f"haproxy-{len(replicas)}.cfg"
    config.write_text(haproxy_config(port, servers))
    process = subprocess.Popen(
        [executable, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _all_up(base, len(replicas)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start: {config.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _all_up(base: str, count: int) -> bool:
    """Whether `count` requests in a row through the proxy got a ready answer (round
    robin: one from each replica)."""
    try:
        return all(
            httpx.get(f"{base}/health/ready", timeout=10).status_code == 200 for _ in range(count)
        )
    except httpx.TransportError:
        return False
