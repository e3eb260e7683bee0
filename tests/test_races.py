"""A row changed and deleted at once: the loser gets 404, never 500.

Each pair of requests is made to overlap on purpose: both load the row before either
writes (a barrier inside the unit), which is the interleaving that used to fail.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.models import Role
from app.services import accounts, items
from tests.helpers import API, Account, race

pytestmark = pytest.mark.slow  # races

PAIRS = 12


@pytest.fixture
def both_loaded(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Hold each request of a pair once it has loaded its row, until the other has too."""
    barrier = threading.Barrier(2, timeout=30)

    def holding(load: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            row = load(*args, **kwargs)
            barrier.wait()
            return row

        return wrapper

    monkeypatch.setattr(items, "visible_item", holding(items.visible_item))
    monkeypatch.setattr(accounts, "get_user", holding(accounts.get_user))
    return barrier


def test_an_item_changed_and_deleted_at_once(
    client: TestClient, user: Account, both_loaded: threading.Barrier
) -> None:
    outcomes = []
    for _ in range(PAIRS):
        both_loaded.reset()
        created = client.post(f"{API}/items", json={"title": "Raced"}, headers=user.headers)
        url = f"{API}/items/{created.json()['id']}"
        patch, delete = race(
            client, [("PATCH", url, user, {"title": "Changed"}), ("DELETE", url, user, None)]
        )
        outcomes.append((patch, delete))
        assert client.get(url, headers=user.headers).status_code == 404
    assert set(outcomes) <= {(404, 204), (200, 204)}, outcomes


@pytest.mark.parametrize("change", [{"name": "Renamed"}, {"role": "USER"}, {"isActive": False}])
def test_a_user_changed_and_deleted_at_once(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    both_loaded: threading.Barrier,
    change: dict[str, Any],
) -> None:
    other_admin = make_account(role=Role.ADMIN)
    outcomes = []
    for _ in range(PAIRS):
        both_loaded.reset()
        target = make_account(role=Role.ADMIN)
        url = f"{API}/users/{target.id}"
        patch, delete = race(
            client, [("PATCH", url, admin, change), ("DELETE", url, other_admin, None)]
        )
        outcomes.append((patch, delete))
        assert client.get(url, headers=admin.headers).status_code == 404
    assert set(outcomes) <= {(404, 204), (200, 204)}, outcomes


def test_an_admin_demoting_themself_while_deleted(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    both_loaded: threading.Barrier,
) -> None:
    outcomes = []
    for _ in range(PAIRS):
        both_loaded.reset()
        doomed = make_account(role=Role.ADMIN)
        url = f"{API}/users/{doomed.id}"
        demote, delete = race(
            client, [("PATCH", url, doomed, {"role": "USER"}), ("DELETE", url, admin, None)]
        )
        outcomes.append((demote, delete))
    # The demotion either lands first (200) or finds its row gone (404); the
    # deletion always wins in the end.
    assert set(outcomes) <= {(404, 204), (200, 204)}, outcomes
