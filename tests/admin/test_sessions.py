"""The Sessions screen: every sign-in, and revoking them."""

import uuid

from sqlmodel import Session, col, update

from app.models import AuthSession
from app.models.fields import utcnow
from tests.admin.pages import BackOffice, ids_on
from tests.helpers import Account, me_status, session_id


def test_the_list_shows_every_session_with_its_user(
    back_office: BackOffice, user: Account, admin: Account
) -> None:
    page = back_office.get("/session/list")
    listed = set(ids_on(page, "session"))
    assert str(session_id(user.access_token)) in listed
    assert str(session_id(admin.access_token)) in listed
    assert len(listed) == 3  # the user's, the admin's API sign-in and this one
    assert user.email in page.text
    for column in ("Created", "Last used", "Expires", "Client address", "User agent", "Status"):
        assert column in page.text
    assert "/admin/session/edit/" not in page.text  # no edit or delete buttons either
    assert 'data-bs-target="#modal-delete"' not in page.text


def test_revoke_a_session(back_office: BackOffice, user: Account, db: Session) -> None:
    target = session_id(user.access_token)
    response = back_office.action("session", "revoke", target)
    assert response.status_code == 303
    assert me_status(back_office.client, user.access_token) == 401
    revoked = back_office.get(f"/session/details/{target}")
    assert "revoked" in revoked.text
    # revoking it again is no error
    assert back_office.action("session", "revoke", target).status_code == 303


def test_status_filter_and_search(back_office: BackOffice, user: Account, db: Session) -> None:
    ended = session_id(user.access_token)
    db.exec(update(AuthSession).where(col(AuthSession.id) == ended).values(revoked_at=utcnow()))
    db.commit()
    assert ids_on(back_office.get("/session/list?status=revoked"), "session") == [str(ended)]
    assert str(ended) not in ids_on(back_office.get("/session/list?status=live"), "session")
    assert ids_on(back_office.get("/session/list?status=expired"), "session") == []
    assert ids_on(back_office.get("/session/list?search=user@"), "session") == [str(ended)]


def test_revoking_an_unknown_session_is_404(back_office: BackOffice) -> None:
    response = back_office.action("session", "revoke", uuid.uuid4())
    assert response.status_code == 404
    assert "Session not found" in response.text


def test_sessions_cannot_be_created_edited_or_deleted_here(
    back_office: BackOffice, user: Account
) -> None:
    target = session_id(user.access_token)
    assert back_office.get("/session/create").status_code == 403
    assert back_office.get(f"/session/edit/{target}").status_code == 403
    assert back_office.delete("session", target).status_code == 403
    assert me_status(back_office.client, user.access_token) == 200
