"""compose.yaml and its Caddyfile: the settings it passes exist, the migration runs once
before the replicas, only the proxy's address is trusted for forwarded headers, and the
shipped Caddyfile, run by a real Caddy in front of the service, proxies to it without
letting a client choose its own address."""

import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.__main__ import build_parser
from app.core.config import Settings
from app.core.migrations import PROJECT_ROOT
from tests.helpers import API, PASSWORD, free_port, poll, start_server

COMPOSE: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
CADDYFILE = PROJECT_ROOT / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"


def test_the_api_gets_only_settings_that_exist() -> None:
    names = {name.upper() for name in Settings.model_fields}
    for service in ("migrate", "api"):
        environment = SERVICES[service]["environment"]
        assert set(environment) <= names, set(environment) - names
        assert {"JWT_SECRET_KEY", "DATABASE_URL"} <= set(environment)


def test_one_migration_runs_before_the_replicas() -> None:
    migrate, api = SERVICES["migrate"], SERVICES["api"]
    assert migrate["command"][:3] == ["python", "-m", "app"]
    assert build_parser().parse_args(migrate["command"][3:]).handler.__name__ == "migrate_command"
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert api["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert migrate["image"] == api["image"]
    assert "pgdata" in COMPOSE["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]


def test_only_the_proxy_is_trusted_for_forwarded_headers() -> None:
    proxy_address = SERVICES["proxy"]["networks"]["backend"]["ipv4_address"]
    subnet = COMPOSE["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    assert SERVICES["api"]["environment"]["FORWARDED_ALLOW_IPS"] == proxy_address
    assert [name for name, service in SERVICES.items() if "ports" in service] == ["proxy"]
    mounted = [volume.split(":")[0] for volume in SERVICES["proxy"]["volumes"]]
    assert "./deploy/Caddyfile" in mounted


@pytest.mark.slow  # a server and Caddy
def test_caddy_from_the_shipped_caddyfile_proxies_to_the_service(
    tmp_path: Path, database_url: str
) -> None:
    if not Path(CADDY).exists():
        pytest.fail("needs Caddy (Debian's caddy; .ci/run installs it)")
    service_port, proxy_port = free_port(), free_port()
    server = start_server(
        service_port,
        tmp_path / "service.log",
        database_url=database_url,
        FIRST_ADMIN_EMAIL="admin@example.com",
        FIRST_ADMIN_PASSWORD=PASSWORD,
        BCRYPT_ROUNDS="4",
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    # The shipped file as it is, imported below options only a test needs: no admin
    # endpoint, plain HTTP on a free port, the upstream on loopback.
    config = tmp_path / "Caddyfile"
    config.write_text(f"{{\n\tadmin off\n}}\nimport {CADDYFILE}\n")
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SITE_ADDRESS": f"http://127.0.0.1:{proxy_port}",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(service_port),
    }
    caddy = subprocess.Popen(
        [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "caddy.log").open("wb"),
    )
    proxy = f"http://127.0.0.1:{proxy_port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{proxy}/health/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert poll(ready), (tmp_path / "caddy.log").read_text()[-2000:]
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        login = httpx.post(
            f"{proxy}{API}/auth/login",
            json={"email": "admin@example.com", "password": PASSWORD},
            headers=spoofed,
        )
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        sessions = httpx.get(
            f"{proxy}{API}/auth/sessions", headers={"Authorization": f"Bearer {token}"}
        )
        assert sessions.status_code == 200
        assert [session["ipAddress"] for session in sessions.json()] == ["127.0.0.1"]
    finally:
        caddy.terminate()
        caddy.wait(timeout=60)
        server.terminate()
        server.wait(timeout=120)
