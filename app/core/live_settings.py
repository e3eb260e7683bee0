"""The settings of live updates (`GET /live`, `app.api.live`)."""

from pydantic import Field
from pydantic_settings import BaseSettings


class LiveSettings(BaseSettings):
    """LIVE_*; `Settings` extends it."""

    live_max_streams_per_user: int = Field(5, ge=1)  # per process
    live_heartbeat_seconds: float = Field(15, gt=0, le=15)  # FastAPI pings every 15 s anyway
    live_poll_seconds: float = Field(1, gt=0, le=60)  # how often the change log is read
    live_queue_size: int = Field(100, ge=1)  # events a stream may fall behind by
    live_max_stream_seconds: float = Field(3600, gt=0)  # then it ends: clients reconnect
