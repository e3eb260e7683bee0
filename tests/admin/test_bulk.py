"""Actions on the rows ticked: activate, deactivate, delete and sign out everywhere for
users, delete for items. Each goes through the API's services in one transaction,
with an audit event per row: a selection that holds every active admin is refused as
a whole and changes nothing."""

from collections.abc import Callable

import pytest
from sqlmodel import Session, col

from app.models import AuditEvent, Item, Role, User
from tests.admin.pages import CROSS_SITE, BackOffice, alerts, notices
from tests.helpers import Account, count_rows, me_status, stored
from tests.test_items import create_item

LAST_ADMIN = "The last active admin must remain"


def audited(db: Session, action: str, *targets: object) -> int:
    """How many `action` events name one of `targets` (by id)."""
    ids = [str(target) for target in targets]
    where = (col(AuditEvent.action) == action, col(AuditEvent.target_id).in_(ids))
    return count_rows(db, AuditEvent, *where)


def is_active(db: Session, account: Account) -> bool:
    user = stored(db, User, account.id)
    assert user is not None
    return user.is_active


def test_deactivate_then_activate_the_users_ticked(
    back_office: BackOffice, user: Account, other_user: Account, db: Session
) -> None:
    response = back_office.action("user", "deactivate", user.id, other_user.id)

    assert response.status_code == 303
    assert notices(back_office.next_page(response)) == ["2 users deactivated."]
    assert not is_active(db, user)
    assert not is_active(db, other_user)
    assert me_status(back_office.client, user.access_token) == 401  # signed out at once
    assert audited(db, "user.deactivated", user.id, other_user.id) == 2

    again = back_office.action("user", "activate", user.id, other_user.id)
    assert notices(back_office.next_page(again)) == ["2 users activated."]
    assert is_active(db, user)
    assert is_active(db, other_user)
    assert audited(db, "user.updated", user.id, other_user.id) == 2


def test_activating_active_users_changes_nothing(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    response = back_office.action("user", "activate", user.id)
    assert notices(back_office.next_page(response)) == ["0 users activated."]
    assert audited(db, "user.updated", user.id) == 0


@pytest.mark.parametrize("action", ["deactivate", "delete"])
def test_a_selection_with_every_admin_is_refused_as_a_whole(
    back_office: BackOffice,
    admin: Account,
    user: Account,
    make_account: Callable[..., Account],
    db: Session,
    action: str,
) -> None:
    second = make_account("second-admin@example.com", role=Role.ADMIN)
    chosen = (user.id, second.id, admin.id)

    if action == "delete":
        answer = back_office.delete("user", *chosen)
        assert answer.status_code == 200
    else:
        answer = back_office.action("user", action, *chosen)
        assert answer.status_code == 303
    shown = back_office.next_page(answer)

    assert alerts(shown) == [LAST_ADMIN]
    assert notices(shown) == []
    for account in (user, second, admin):  # nothing changed, not even for the others
        assert is_active(db, account)
    assert me_status(back_office.client, user.access_token) == 200
    assert count_rows(db, AuditEvent, col(AuditEvent.action).in_(["user.deleted"])) == 0
    assert audited(db, "user.deactivated", *chosen) == 0
    assert back_office.is_signed_in()


def test_a_selection_that_leaves_an_admin_goes_through(
    back_office: BackOffice, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    second = make_account("second-admin@example.com", role=Role.ADMIN)
    response = back_office.action("user", "deactivate", second.id)
    assert notices(back_office.next_page(response)) == ["1 user deactivated."]
    assert not is_active(db, second)


def test_delete_the_users_ticked(
    back_office: BackOffice, user: Account, other_user: Account, db: Session
) -> None:
    item = create_item(back_office.client, user, "Goes with its owner")

    response = back_office.delete("user", user.id, other_user.id)

    assert notices(back_office.next_page(response)) == ["2 users deleted."]
    assert stored(db, User, user.id) is None
    assert stored(db, User, other_user.id) is None
    assert stored(db, Item, item["id"]) is None
    assert audited(db, "user.deleted", user.id, other_user.id) == 2


def test_sign_out_everywhere_is_audited_per_user(
    back_office: BackOffice, user: Account, other_user: Account, db: Session
) -> None:
    response = back_office.action("user", "revoke-sessions", user.id, other_user.id)

    assert notices(back_office.next_page(response)) == ["2 users signed out everywhere."]
    assert me_status(back_office.client, other_user.access_token) == 401
    assert audited(db, "auth.logout", user.id, other_user.id) == 2


def test_delete_the_items_ticked(
    back_office: BackOffice, user: Account, other_user: Account, db: Session
) -> None:
    first = create_item(back_office.client, user, "First")
    second = create_item(back_office.client, other_user, "Second")
    kept = create_item(back_office.client, user, "Kept")

    response = back_office.delete("item", first["id"], second["id"])

    assert notices(back_office.next_page(response)) == ["2 items deleted."]
    assert count_rows(db, Item) == 1
    assert stored(db, Item, kept["id"]) is not None
    assert audited(db, "resource.deleted", first["id"], second["id"]) == 2


def test_an_item_deleted_meanwhile_leaves_the_others(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    first = create_item(back_office.client, user, "First")
    second = create_item(back_office.client, user, "Second")
    gone = back_office.client.delete(f"/api/v1/items/{second['id']}", headers=user.headers)
    assert gone.status_code == 204

    response = back_office.delete("item", first["id"], second["id"])

    assert response.status_code == 404  # a row that is not there: nothing is done
    assert stored(db, Item, first["id"]) is not None


@pytest.mark.parametrize("action", ["activate", "deactivate"])
def test_bulk_actions_come_only_from_the_back_offices_pages(
    back_office: BackOffice, user: Account, db: Session, action: str
) -> None:
    if action == "activate":
        back_office.action("user", "deactivate", user.id)
    before = is_active(db, user)
    assert back_office.action("user", action, user.id, **CROSS_SITE).status_code == 403
    assert is_active(db, user) == before
