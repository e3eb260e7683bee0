"""Health checks for orchestrators and load balancers (outside the API prefix)."""

from sqlalchemy import text

from app.api.deps import SessionDep, SettingsDep
from app.api.routing import feature_router
from app.core.errors import ErrorCode, responses
from app.models.payloads import Health, Readiness

router = feature_router("", "health")


@router.get("/health", operation_id="health")
async def health(settings: SettingsDep) -> Health:
    """Liveness: the process answers."""
    return Health(version=settings.app_version, environment=settings.environment)


@router.get(
    "/health/ready", operation_id="health-ready", responses=responses(ErrorCode.SERVICE_UNAVAILABLE)
)
def ready(db: SessionDep) -> Readiness:
    """Readiness: the database answers (503 when it does not)."""
    db.execute(text("SELECT 1"))
    return Readiness()
