"""The Audit log screen: the events of the API and of the back office, read-only."""

import uuid

from sqlmodel import Session, col, select

from app.models import AuditEvent
from tests.admin.pages import BackOffice, ids_on
from tests.helpers import API, Account, login_status


def event_ids(db: Session, action: str) -> list[str]:
    """The ids of the events of `action`, newest first."""
    query = select(AuditEvent).where(AuditEvent.action == action)
    rows = db.exec(query.order_by(col(AuditEvent.occurred_at).desc(), col(AuditEvent.id))).all()
    return [str(row.id) for row in rows]


def test_the_list_shows_events_newest_first(
    back_office: BackOffice, user: Account, admin: Account, db: Session
) -> None:
    back_office.client.patch(f"{API}/users/me", json={"name": "Renamed"}, headers=user.headers)
    page = back_office.get("/audit-event/list")
    listed = ids_on(page, "audit-event")
    assert listed[0] == event_ids(db, "user.updated")[0]  # the newest
    assert set(event_ids(db, "auth.login.succeeded")) <= set(listed)
    for column in ("When", "Action", "Outcome", "Actor", "Subject", "Client address"):
        assert column in page.text
    assert user.email in page.text
    assert admin.email in page.text


def test_details_show_who_changed_what(
    back_office: BackOffice, user: Account, admin: Account, db: Session
) -> None:
    url = f"{API}/users/{user.id}"
    response = back_office.client.patch(url, json={"name": "By admin"}, headers=admin.headers)
    assert response.status_code == 200
    page = back_office.get(f"/audit-event/details/{event_ids(db, 'user.updated')[0]}")
    assert page.status_code == 200
    assert admin.email in page.text  # the actor
    assert f"user: {user.email}" in page.text  # the subject
    assert "<code>name</code>: &#34;User&#34; → &#34;By admin&#34;" in page.text
    assert "password_hash" not in page.text
    assert "$2b$" not in page.text


def test_filters_and_search(back_office: BackOffice, user: Account, db: Session) -> None:
    assert login_status(back_office.client, user.email, "wrong password!") == 401
    failed = event_ids(db, "auth.login.failed")
    assert len(failed) == 1
    for query in ["action=auth.login.failed", "outcome=failure"]:
        assert ids_on(back_office.get(f"/audit-event/list?{query}"), "audit-event") == failed
    about_user = {
        str(row.id)
        for row in db.exec(select(AuditEvent)).all()
        if user.email in (row.actor_email, row.target_label)
    }
    searched = ids_on(back_office.get(f"/audit-event/list?search={user.email}"), "audit-event")
    assert failed[0] in searched
    assert set(searched) == about_user


def test_events_cannot_be_created_edited_or_deleted_here(
    back_office: BackOffice, db: Session
) -> None:
    event = ids_on(back_office.get("/audit-event/list"), "audit-event")[0]
    assert back_office.get("/audit-event/create").status_code == 403
    assert back_office.get(f"/audit-event/edit/{event}").status_code == 403
    assert back_office.delete("audit-event", event).status_code == 403
    assert db.get(AuditEvent, uuid.UUID(event)) is not None
