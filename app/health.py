"""Health checks for orchestrators and load balancers (outside the API prefix)."""

from fastapi import APIRouter
from sqlalchemy import text
from sqlmodel import Session

from app.deps import DatabaseDep, SettingsDep
from app.errors import ErrorCode, responses
from app.payloads import Health, Readiness

router = APIRouter(tags=["health"])


def _ping(db: Session) -> None:
    db.execute(text("SELECT 1"))


@router.get("/health", operation_id="health")
async def health(settings: SettingsDep) -> Health:
    """Liveness: the process answers."""
    return Health(version=settings.app_version, environment=settings.environment)


@router.get(
    "/health/ready", operation_id="health-ready", responses=responses(ErrorCode.SERVICE_UNAVAILABLE)
)
async def ready(database: DatabaseDep) -> Readiness:
    """Readiness: the database answers (503 when it does not)."""
    await database.run(_ping)
    return Readiness()
