"""Live updates (`GET /live`): Server-Sent Events of changes to what the caller's lists show.

Each event is `event:` the resource (`items`, `users`), `id:` the change's id (which
identifies it for resuming; on PostgreSQL ids do not follow the order of the events)
and `data:` a `LiveEvent`. A comment line comes every LIVE_HEARTBEAT_SECONDS,
and the credential is checked again as often: a signed-out session, a deactivated
account or a lost role ends the stream or narrows it. Sent again with `Last-Event-ID`,
the stream resumes after that event, or begins with `event: resync` when those changes
are no longer kept; `resync` also ends a stream that fell LIVE_QUEUE_SIZE events
behind. A new stream first sends an `id:` alone, where a reconnection resumes even
if no event came. A stream ends after LIVE_MAX_STREAM_SECONDS; clients reconnect with
`Last-Event-ID` and lose nothing. Browsers sign in with the access cookie (cookie
mode): `new EventSource(url, {withCredentials: true})`.
"""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import get_credential
from app.core.errors import SIGNED_IN, AppError, ErrorCode, responses
from app.core.state import app_state
from app.core.tokens import SessionClaims
from app.models.changes import LiveEvent, LiveResync
from app.services import live
from app.services.live_hub import End, Hub, Resync, Stream

router = APIRouter(prefix="/live", tags=["live"], responses=responses(*SIGNED_IN))
Credential = Annotated[SessionClaims | str, Depends(get_credential)]
RESYNC = ServerSentEvent(event="resync", raw_data="{}")


def live_hub(request: Request) -> Hub:
    """The live updates of the app serving `request`."""
    hub: Hub = request.app.state.live_hub
    return hub


def _after(last_event_id: str | None) -> int | None:
    """The change a resuming client saw last (-1, which asks for a resync, when the
    header is not one of our ids)."""
    if last_event_id is None:
        return None
    return int(last_event_id) if last_event_id.isascii() and last_event_id.isdigit() else -1


@dataclass(frozen=True, slots=True)
class Opened:
    """An open stream, with its hub and the credential it was opened with."""

    hub: Hub
    stream: Stream
    credential: SessionClaims | str
    resumed: bool


async def open_stream(
    request: Request,
    credential: Credential,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=20, description="The last event seen: resume"),
    ] = None,
) -> AsyncIterator[Opened]:
    """Open a stream for the caller (401/403 as the lists answer; 429 when they have
    LIVE_MAX_STREAMS_PER_USER open), closed when the response ends."""
    hub, settings = live_hub(request), app_state(request.app).settings
    viewer = await hub.read(live.viewer, settings, credential)
    stream = await hub.open(viewer, after=_after(last_event_id))
    try:
        yield Opened(hub, stream, credential, resumed=last_event_id is not None)
    finally:
        hub.close(stream)


async def stream_changes(
    opened: Annotated[Opened, Depends(open_stream)], request: Request
) -> AsyncIterator[ServerSentEvent]:
    """Changes to what the caller's lists show, as Server-Sent Events: their items (an
    admin's: every item, and the users). See the README's "Live updates"."""
    settings = app_state(request.app).settings
    heartbeat = settings.live_heartbeat_seconds
    checked = time.monotonic()
    ends = checked + settings.live_max_stream_seconds
    if not opened.resumed and opened.stream.last.id:
        # An id with no event: a reconnection resumes here, even if no event came.
        yield ServerSentEvent(id=str(opened.stream.last.id))
    while (left := ends - time.monotonic()) > 0:
        event = await opened.stream.next(min(heartbeat, left))
        if isinstance(event, End):
            return
        if isinstance(event, Resync):
            yield RESYNC
            if not opened.stream.open:
                return  # dropped for falling behind
            continue
        if event is not None:
            yield ServerSentEvent(event=event.resource, id=str(event.id), raw_data=event.data)
        if time.monotonic() - checked >= heartbeat:
            if not await _still_signed_in(opened, request):
                return
            checked = time.monotonic()
        if event is None:
            yield ServerSentEvent(comment="heartbeat")


# FastAPI documents the `data:` of each event from the return type; the events are
# built here (`ServerSentEvent`), so the document is told what their `data:` holds:
# a change, or the `{}` of `event: resync`.
stream_changes.__annotations__["return"] = AsyncIterator[LiveEvent | LiveResync]
router.add_api_route(
    "",
    stream_changes,
    methods=["GET"],
    operation_id="live-stream",
    response_class=EventSourceResponse,
    responses=responses(ErrorCode.API_TOKEN_SCOPE, ErrorCode.LIVE_TOO_MANY_STREAMS),
)


async def _still_signed_in(opened: Opened, request: Request) -> bool:
    """Check the credential again; the viewer follows a change of role."""
    settings = app_state(request.app).settings
    try:
        opened.stream.viewer = await opened.hub.read(live.viewer, settings, opened.credential)
    except (AppError, SQLAlchemyError):  # signed out, or no database to ask: end it
        return False
    return True
