"""The image's start command and health check point at things that exist."""

import ast
import json
import re
import shlex

from fastapi.testclient import TestClient

from app.__main__ import build_parser
from app.core.config import Settings
from app.core.migrations import PROJECT_ROOT
from app.main import create_app

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()


def instruction(name: str) -> str:
    """The last `name` instruction of the final stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    final_stage = joined.rsplit("\nFROM ", 1)[1]
    found: list[str] = re.findall(rf"^{name}\s+(.+)$", final_stage, re.MULTILINE)
    assert found, f"no {name} in the final stage"
    return found[-1].strip()


def test_cmd_is_exec_form_and_runs_the_serve_command() -> None:
    command = json.loads(instruction("CMD"))
    assert command[:3] == ["python", "-m", "app"]
    args = build_parser().parse_args(command[3:])
    assert args.command == "serve"
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert (PROJECT_ROOT / "app" / "__main__.py").exists()


def test_healthcheck_asks_the_health_route_with_python() -> None:
    options, _, command = instruction("HEALTHCHECK").partition(" CMD ")
    assert "--interval" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    ast.parse(argv[2])  # valid Python: slim images have no curl
    url = re.search(r"http://127\.0\.0\.1:8000(/[\w/]*)", argv[2])
    assert url is not None
    settings = Settings(_env_file=None, environment="test", database_url="sqlite://")
    with TestClient(create_app(settings)) as client:
        assert client.get(url.group(1)).status_code == 200


def test_runtime_defaults_and_user() -> None:
    env = instruction("ENV")
    assert "ENVIRONMENT=production" in env
    assert "DATABASE_URL=sqlite:////data/app.db" in env
    assert instruction("USER") == "app"
    assert instruction("VOLUME") == "/data"
    assert instruction("EXPOSE") == "8000"
    assert "uv sync --frozen --no-dev" in DOCKERFILE


def test_dockerignore_keeps_secrets_state_and_tests_out() -> None:
    ignored = set(shlex.split((PROJECT_ROOT / ".dockerignore").read_text(), comments=True))
    assert {".git", ".venv", ".env", "*.db", ".jwt-secret", "tests"} <= ignored
