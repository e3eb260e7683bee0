"""The caller's sign-in sessions (`/auth/sessions`): list them, sign one out."""

import uuid
from typing import Annotated

from fastapi import Path

from app.api.deps import CurrentSessionId, SessionDep, SessionUser
from app.api.routing import feature_router
from app.core.errors import SESSION_ONLY, ErrorCode, responses
from app.models import SessionPublic
from app.services import sessions

router = feature_router("/auth/sessions", "sessions", *SESSION_ONLY)
SessionId = Annotated[uuid.UUID, Path(alias="sessionId", description="The session's id")]


@router.get("", operation_id="sessions-list")
def list_sessions(
    db: SessionDep, user: SessionUser, session_id: CurrentSessionId
) -> list[SessionPublic]:
    """The caller's live sessions, newest first; `current` marks this one."""
    return sessions.live_sessions(db, user, current=session_id)


@router.delete(
    "/{sessionId}",
    status_code=204,
    operation_id="sessions-revoke",
    responses=responses(ErrorCode.SESSION_NOT_FOUND),
)
def delete_session(session_id: SessionId, db: SessionDep, user: SessionUser) -> None:
    """Sign out one of the caller's sessions (for example a lost device)."""
    sessions.revoke_session(db, user, session_id=session_id)
