"""The README's "Add a resource" section, followed step by step in a copy of the project.

Its code blocks are applied as they are written: the `sed` command that copies the
example's three modules, the error code, the authorization rows. Before the rows exist the
authorization test must fail on the new routes; after them it must pass, with
migrations that match the models.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.migrations import PROJECT_ROOT

pytestmark = pytest.mark.slow  # copies the repository

SECTION = re.compile(r"^## Add a resource\n(.*?)^## ", re.MULTILINE | re.DOTALL)
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def guide_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block of the section, less the fence's indent."""
    section = SECTION.search((PROJECT_ROOT / "README.md").read_text())
    assert section, "the README has no 'Add a resource' section"
    blocks = []
    for indent, language, body in FENCE.findall(section.group(1)):
        lines = [line.removeprefix(indent) for line in body.splitlines()]
        blocks.append((language, "\n".join(lines) + "\n"))
    return blocks


# `make revision msg="add projects"` then `make migrate`, and `alembic check`: in one
# process, on the database that `run` names.
MIGRATION_STEPS = """
from alembic import command
from app.core.config import get_settings
from app.core.migrations import alembic_config, migrate
url = get_settings().database_url
migrate(url)
command.revision(alembic_config(url), message="add projects", autogenerate=True)
migrate(url)
command.check(alembic_config(url))
"""


def copy_project(target: Path) -> None:
    """The project's files (tracked, or new and not ignored) as they are now, in `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def insert_after(path: Path, anchor: str, text: str) -> None:
    """Insert `text` after the first line of `path` that starts with `anchor`."""
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(anchor))
    path.write_text("".join([*lines[: index + 1], text, *lines[index + 1 :]]))


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COVERAGE_", "TEST_DATABASE", "CI"))
    }
    environment["DATABASE_URL"] = f"sqlite:///{project}/guide.db"
    # alembic formats new migrations with this environment's ruff
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return subprocess.run(
        [*args], cwd=project, env=environment, capture_output=True, text=True, timeout=600
    )


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the project's files")
def test_the_add_a_resource_guide_works(tmp_path: Path) -> None:
    blocks = guide_blocks()
    assert [language for language, _ in blocks] == ["sh", "python", "python", "python"]
    (_, copy_example), (_, error_code), (_, owned), (_, rows) = blocks
    project = tmp_path / "project"
    copy_project(project)

    # 1: the example's model, service and routes, copied with `sed` as written
    copied = run(project, "bash", "-c", copy_example)
    assert copied.returncode == 0, copied.stderr
    assert "a project" in (project / "app/services/projects.py").read_text()
    # 2: the error code
    insert_after(project / "app/core/errors.py", "    SESSION_NOT_FOUND =", error_code)
    # 3: wired into the app
    main = project / "app/main.py"
    insert_after(main, "    items.router,", "    projects.router,\n")
    insert_after(main, "from app.api import ", "from app.api import projects\n")
    # 4: a migration generated from the models, applied, and in agreement with them
    migrated = run(project, sys.executable, "-c", MIGRATION_STEPS)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    # 5: without rows, the authorization test names the new routes
    unguarded = pytest_in(project, "tests/test_authorization.py", "-k", "every_route")
    assert unguarded.returncode == 1, unguarded.stdout
    assert "/projects" in unguarded.stdout

    authorization = project / "tests/test_authorization.py"
    insert_after(authorization, '    "itemId": ', owned)
    insert_after(authorization, '    Row("DELETE", "/items/{itemId}"', rows)
    guarded = pytest_in(project, "tests/test_authorization.py", "-k", "every or projects")
    assert guarded.returncode == 0, guarded.stdout + guarded.stderr
    # 5 rows x 4 callers, 5 rows x bad tokens, and the 2 coverage checks
    assert "27 passed" in guarded.stdout, guarded.stdout
