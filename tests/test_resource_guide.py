"""The README's "Add a resource" section, followed step by step in a copy of the project.

The guide is read with "project" replaced by "wombat" (a name no user picks, so nothing
of the project's own can be taken for the guide's work), and its code blocks are
applied as written: the `sed` command that copies the example's code and tests, the
error code and its README row, the authorization rows. The steps given in words (wire
the router and the screen) are done here the way they say. Before the rows exist the
authorization test must fail on the new routes; at the end `make client` regenerates
the client and `make test` passes, the copied tests of the new resource and of its
back-office screen included.
"""

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from app.core.migrations import PROJECT_ROOT

pytestmark = pytest.mark.slow  # copies the repository and runs its suite

SECTION = re.compile(r"^## Add a resource\n(.*?)^## ", re.MULTILINE | re.DOTALL)
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
NAMES = {"project": "wombat", "Project": "Wombat", "PROJECT": "WOMBAT"}


def guide() -> str:
    """The section as a reader of this test's copy sees it: about wombats."""
    section = SECTION.search((PROJECT_ROOT / "README.md").read_text())
    assert section, "the README has no 'Add a resource' section"
    text = section.group(1)
    for name, other in NAMES.items():
        text = text.replace(name, other)
    return text


def blocks_of(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block of `text`, less the fence's indent."""
    blocks = []
    for indent, language, body in FENCE.findall(text):
        lines = [line.removeprefix(indent) for line in body.splitlines()]
        blocks.append((language, "\n".join(lines) + "\n"))
    return blocks


def copy_project(target: Path) -> None:
    """The project's files (tracked, or new and not ignored) as they are now, in
    `target`, with the installed environments (`.venv`, `.uv`, the kit's
    `node_modules`) linked rather than installed again."""
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
    for installed in (".venv", ".uv", "clients/node_modules"):
        if (PROJECT_ROOT / installed).exists():
            (target / installed).symlink_to(PROJECT_ROOT / installed)


def insert_after(path: Path, anchor: str, text: str) -> None:
    """Insert `text` after the first line of `path` that starts with `anchor`."""
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(anchor))
    path.write_text("".join([*lines[: index + 1], text, *lines[index + 1 :]]))


def run(project: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`command` in a shell in `project`, as a user would type it (SQLite only)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COVERAGE_", "TEST_DATABASE", "CI", "PYTEST_"))
    }
    environment["DATABASE_URL"] = f"sqlite:///{project}/guide.db"
    return subprocess.run(
        ["bash", "-c", command],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def passed_per_module(output: str) -> Counter[str]:
    """How many tests of each module passed, from pytest's `-rA` summary."""
    return Counter(re.findall(r"^PASSED (\S+)\.py::", output, re.MULTILINE))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the project's files")
def test_the_add_a_resource_guide_ends_green(tmp_path: Path) -> None:
    text = guide()
    blocks = blocks_of(text)
    assert [language for language, _ in blocks] == ["sh", "python", "markdown", "python", "python"]
    (_, copy_example), (_, error_code), (_, error_row), (_, owned), (_, rows) = blocks
    for command in ('make revision msg="add wombats"', "make migrate", "make client", "make test"):
        assert f"`{command}`" in text
    project = tmp_path / "project"
    copy_project(project)

    # 1: the example's code and tests, copied with `sed` as written
    copied = run(project, copy_example)
    assert copied.returncode == 0, copied.stderr
    for module in ("models", "services", "api", "admin"):
        assert (project / f"app/{module}/wombats.py").is_file()
    assert "a wombat" in (project / "app/services/wombats.py").read_text()
    assert "an wombat" not in (project / "tests/test_wombats.py").read_text()
    # 2: the error code, and its row in the README's table
    insert_after(project / "app/core/errors.py", "    ITEM_NOT_FOUND =", error_code)
    insert_after(project / "README.md", "| `ITEM_NOT_FOUND` |", error_row)
    # 3: wired into the app and the back office, as the words of the step say
    main = project / "app/main.py"
    insert_after(main, "from app.core import ", "from app.api import wombats\n")
    insert_after(main, "    items.router,", "    wombats.router,\n")
    site = project / "app/admin/site.py"
    # (the Items screen is `ItemFilesAdmin`: the items' screen with their files)
    insert_after(
        site, "from app.admin.item_files import", "from app.admin.wombats import WombatAdmin\n"
    )
    site.write_text(
        site.read_text().replace("ItemFilesAdmin, ", "ItemFilesAdmin, WombatAdmin, ", 1)
    )
    # 4: a migration generated from the models, then applied
    migrated = run(project, 'make revision msg="add wombats" && make migrate')
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert list((project / "alembic/versions").glob("*_add_wombats.py"))

    # 5: without rows, the authorization test names the new routes
    unguarded = run(project, "make test PYTEST_ARGS='tests/test_authorization.py -k every_route'")
    assert unguarded.returncode != 0, unguarded.stdout
    assert "/wombats" in unguarded.stdout
    authorization = project / "tests/test_authorization.py"
    insert_after(authorization, '    "itemId": ', owned)
    insert_after(authorization, '    Row("DELETE", "/items/{itemId}"', rows)

    # 6: the client regenerated, then the suite green with the new resource's tests
    client = run(project, "make client")
    assert client.returncode == 0, client.stdout + client.stderr
    assert "/api/v1/wombats/{wombatId}" in (project / "clients/openapi.json").read_text()
    assert "wombats" in (project / "clients/src/generated/sdk.gen.ts").read_text()
    # The slow tests (real servers, races, this guide itself) concern nothing copied.
    tested = run(project, "make test PYTEST_ARGS='-m \"not slow\" -rA'")
    assert tested.returncode == 0, tested.stdout[-5000:] + tested.stderr[-2000:]
    passed = passed_per_module(tested.stdout)
    assert passed["tests/test_wombats"] >= 30, passed
    assert passed["tests/admin/test_wombats"] >= 6, passed  # the screen, served
    assert passed["tests/test_authorization"] > passed["tests/test_wombats"], passed
