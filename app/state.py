"""The application's state: settings, database and password hasher, in one typed object."""

from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.db import Database
from app.passwords import PasswordHasher


@dataclass(frozen=True)
class AppState:
    """What one running app holds; `create_app` builds it, its lifespan closes it."""

    settings: Settings
    database: Database
    hasher: PasswordHasher

    @classmethod
    def start(cls, settings: Settings) -> "AppState":
        """Engines and hashing threads for `settings` (no connection is opened yet)."""
        hasher = PasswordHasher(settings.bcrypt_rounds, settings.password_hash_concurrency)
        return cls(settings=settings, database=Database(settings), hasher=hasher)

    def close(self) -> None:
        """Stop the hashing threads and close every pooled connection."""
        self.hasher.close()
        self.database.dispose()


def app_state(app: Any) -> AppState:
    """The state of `app` (a FastAPI app built by `create_app`)."""
    state = app.state.app_state
    if not isinstance(state, AppState):  # pragma: no cover - create_app always sets it
        raise TypeError("not an app built by create_app")
    return state
