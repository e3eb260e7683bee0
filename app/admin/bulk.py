"""What the back office's actions do to many rows at once: the service functions that
the API calls, row by row, in the one transaction of the action (`ServiceView.write`),
so that a refusal of any row (the last admin) leaves every row as it was. Each row's
change is audited as the API audits it.
"""

import uuid
from collections.abc import Callable

from sqlmodel import Session

from app.models import User
from app.services import accounts, sessions, two_factor


def sign_out_everywhere(db: Session, *, user_ids: list[uuid.UUID]) -> int:
    """Revoke every session of each of `user_ids`, as `POST /auth/logout-all` does for
    its caller (`USER_NOT_FOUND` for an unknown one); returns how many users."""
    for user_id in user_ids:
        sessions.end_all_sessions(db, accounts.get_user(db, user_id))
    return len(user_ids)


def delete_users(db: Session, *, user_ids: list[uuid.UUID]) -> None:
    """Delete each of `user_ids` as `DELETE /users/{id}` does (`LAST_ADMIN` when no
    active admin would be left: the caller's transaction then changes nothing)."""
    for user_id in user_ids:
        accounts.delete_by_id(db, user_id=user_id)


def set_active(db: Session, *, user_ids: list[uuid.UUID], active: bool) -> int:
    """Activate or deactivate each of `user_ids` as `PATCH /users/{id}` does
    (deactivation signs out and revokes API tokens; `LAST_ADMIN` when no active admin
    would be left); returns how many changed."""
    changed = 0
    for user_id in user_ids:
        user = accounts.get_user(db, user_id)
        if user.is_active != active:
            accounts.update_user(db, user, changes={"is_active": active})
            changed += 1
    return changed


def turn_off_two_factor(db: Session, *, user_ids: list[uuid.UUID]) -> int:
    """Turn off the two-factor sign-in of each of `user_ids` that has it (on or
    pending), as `POST /users/{id}/two-factor/reset` does; returns how many had it."""
    turned_off = 0
    for user_id in user_ids:
        accounts.get_user(db, user_id)  # USER_NOT_FOUND for an unknown one
        if two_factor.factor_of(db, user_id) is not None:
            two_factor.reset_for(db, user_id=user_id)
            turned_off += 1
    return turned_off


def delete_each(
    db: Session,
    delete: Callable[[Session, User, uuid.UUID], None],
    user: User,
    *,
    ids: list[uuid.UUID],
) -> None:
    """Delete each of `ids` with a resource's `delete` service as `user` (for items,
    `items.delete`, as `DELETE /items/{id}` does: a row `user` may not see is not found)."""
    for row_id in ids:
        delete(db, user, row_id)
