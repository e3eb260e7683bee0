"""Health checks for orchestrators and load balancers (outside the API prefix)."""

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.deps import DatabaseDep, SettingsDep
from app.models import Health, Message, Readiness

router = APIRouter(tags=["health"])


def _ping(db: Session) -> None:
    db.execute(text("SELECT 1"))


@router.get("/health", operation_id="health")
async def health(settings: SettingsDep) -> Health:
    """Liveness: the process answers."""
    return Health(version=settings.app_version, environment=settings.environment)


@router.get(
    "/health/ready",
    operation_id="health-ready",
    responses={503: {"model": Message, "description": "The database does not answer"}},
)
async def ready(database: DatabaseDep) -> Readiness:
    """Readiness: the database answers."""
    try:
        await database.run(_ping)
    except SQLAlchemyError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="Database unavailable"
        ) from None
    return Readiness()
