"""What one running app holds: its settings, database, threads and password hasher."""

from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.core.db import Database
from app.core.passwords import PasswordHasher
from app.core.threads import Threads


@dataclass(frozen=True)
class AppState:
    """`create_app` builds it; the app's lifespan closes it."""

    settings: Settings
    database: Database
    threads: Threads
    hasher: PasswordHasher

    @classmethod
    def start(cls, settings: Settings) -> "AppState":
        """The engine, threads and hasher for `settings` (no connection is opened yet)."""
        return cls(
            settings=settings,
            database=Database(settings),
            threads=Threads(settings),
            hasher=PasswordHasher(
                settings.bcrypt_rounds, concurrency=settings.password_hash_concurrency
            ),
        )

    def close(self) -> None:
        """Stop the threads and close every pooled connection."""
        self.threads.close()
        self.database.dispose()


def app_state(app: Any) -> AppState:
    """The state of `app` (a FastAPI app built by `create_app`)."""
    state = app.state.app_state
    if not isinstance(state, AppState):  # pragma: no cover - create_app always sets it
        raise TypeError("not an app built by create_app")
    return state
