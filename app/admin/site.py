"""The back office as a whole: its home page, sign-in page, error pages and screens.

`mount_back_office(app)` mounts SQLAdmin at /admin of the service's own app, so it
runs in the same process with the same settings, database and password hasher.
Its pages come from SQLAdmin's templates (some overridden in `templates/`) and its
CSS, JavaScript and fonts from its wheel: nothing is fetched from another site. A
change done says so at the top of the next page (`notices.py`).
"""

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from sqladmin import Admin, ModelView
from sqladmin.authentication import login_required
from sqladmin.templating import Jinja2Templates
from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, func, select
from starlette.datastructures import URL, FormData, MultiDict
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from app.admin.audit import AuditEventAdmin
from app.admin.auth import AdminAuth, CodeNeeded
from app.admin.forms import current_csrf_token
from app.admin.guard import BrowserGuard
from app.admin.item_files import ItemFilesAdmin
from app.admin.notices import Notices, notify, shown
from app.admin.sessions import SessionAdmin
from app.admin.two_factor import TwoFactorAdmin
from app.admin.users import UserAdmin
from app.admin.views import SAVE_FAILED, UNAVAILABLE, FormError, ServiceView, parse_ids
from app.core.db import Database
from app.core.errors import AppError, ErrorCode
from app.core.handlers import RETRY_AFTER_OUTAGE
from app.core.state import AppState, app_state
from app.models import AuthSession, Item, Role, User
from app.models.fields import utcnow

HERE = Path(__file__).parent
OUTAGE = AppError(ErrorCode.SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_OUTAGE)})
SCREENS: tuple[type[ServiceView], ...] = (UserAdmin, ItemFilesAdmin, SessionAdmin, AuditEventAdmin)
# What a list page shows from its `?error=` (SQLAdmin's way to report a failed
# delete): the service's own messages only, never text from a link.
OWN_ERRORS = frozenset(
    {code.message for code in ErrorCode} | {SAVE_FAILED, "404: Object not found"}
)


def _count(db: Session, table: type[SQLModel], *where: ColumnElement[bool]) -> int:
    total: int = db.exec(select(func.count()).select_from(table).where(*where)).one()
    return total


def counts(database: Database, *, now: datetime) -> dict[str, int]:
    """The figures of the home page."""
    live = (col(AuthSession.revoked_at).is_(None), col(AuthSession.expires_at) > now)
    with database.session(read_only=True) as db:
        return {
            "users": _count(db, User),
            "admins": _count(db, User, col(User.role) == Role.ADMIN),
            "sessions": _count(db, AuthSession, *live),
            "items": _count(db, Item),
        }


class BackOffice(Admin):
    """SQLAdmin on the service: its sign-in, its screens, its error pages."""

    def __init__(self, app: FastAPI, state: AppState) -> None:
        self.state = state
        self.auth = AdminAuth(state)
        super().__init__(
            app,
            engine=state.database.engine,  # SQLAdmin only reads, on our threads (views.py)
            title=f"{state.settings.app_name} admin",
            templates_dir=str(HERE / "templates"),  # SQLAdmin's default is relative
            authentication_backend=self.auth,
            middlewares=[
                Middleware(BrowserGuard),
                Middleware(
                    Notices,
                    secret_key=state.settings.secret_key,
                    secure=state.settings.environment == "production",
                ),
            ],
        )
        assets = StaticFiles(directory=HERE / "assets")
        self.admin.router.routes.append(Mount("/assets", app=assets, name="assets"))
        for refusal in (HTTPException, AppError, *UNAVAILABLE):
            self.admin.add_exception_handler(refusal, self.refused)
        for screen in SCREENS:  # a subclass per app: SQLAdmin stores state on the class
            self.add_view(type(screen.__name__, (screen,), {"state": state}))
        self.add_view(type(TwoFactorAdmin.__name__, (TwoFactorAdmin,), {"state": state}))

    def init_templating_engine(self) -> Jinja2Templates:
        templates = super().init_templating_engine()
        templates.env.globals["csrf_token"] = current_csrf_token
        templates.env.globals["notices"] = shown
        return templates

    @staticmethod
    def get_save_redirect_url(
        request: Request, form: FormData, model_view: ModelView, obj: Any
    ) -> str | URL:
        """Where a form goes once saved (SQLAdmin's choice); that page says what was done."""
        if isinstance(model_view, ServiceView):
            done = "saved" if "pk" in request.path_params else "created"
            notify(request, f'{model_view.name} "{model_view.label(obj)}" {done}.')
        return Admin.get_save_redirect_url(request, form, model_view, obj)

    async def page(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        """A page rendered from the template `name`."""
        return await self.templates.TemplateResponse(request, name, context, status_code)

    @login_required
    async def index(self, request: Request) -> Response:
        """Home: how many users, admins, live sessions and items there are."""
        figures = await self.state.threads.run(
            partial(counts, self.state.database, now=utcnow()), writes=False
        )
        return await self.page(request, "sqladmin/index.html", {"counts": figures})

    async def list(self, request: Request) -> Response:
        """A screen's list; an `error` that the service did not write is dropped."""
        error = request.query_params.get("error")
        if error is not None and error not in OWN_ERRORS:
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "error"]
            request = Request({**request.scope, "query_string": urlencode(kept).encode()})
        page: Response = await super().list(request)
        return page

    @login_required
    async def delete(self, request: Request) -> Response:
        """Delete the rows ticked (`?pks=`), or the one whose button was pressed, in one
        transaction: all of them, or none when the service refuses one (the last
        admin); answers the list page's address, with the refusal as `error`."""
        await self._delete(request)  # SQLAdmin's checks: a screen that deletes, rows there
        model_view = self._find_model_view(request.path_params["identity"])
        if not isinstance(model_view, ServiceView):
            raise HTTPException(status_code=403)
        kept = MultiDict(parse_qsl(URL(request.headers.get("referer", "")).query))
        kept.pop("error", None)
        try:
            await model_view.delete_rows(request, parse_ids(request))
        except FormError as error:
            kept["error"] = str(error)
        page = URL(str(request.url_for("admin:list", identity=model_view.identity)))
        return PlainTextResponse(str(page.include_query_params(**kept)))

    async def login(self, request: Request) -> Response:
        """The sign-in page, and signing in."""
        if request.method == "GET":
            return await self.page(request, "sqladmin/login.html", {})
        form = await request.form()
        email = form.get("email")
        context: dict[str, Any] = {"email": email if isinstance(email, str) else ""}
        try:
            return await self.auth.login(request)
        except CodeNeeded as needed:  # the second step: the same page asks for a code
            context["challenge_token"] = needed.challenge_token
            return await self.page(request, "sqladmin/login.html", context)
        except AppError as error:
            challenge_token = form.get("challenge_token")
            if error.code in CODE_REFUSALS and isinstance(challenge_token, str):
                context["challenge_token"] = challenge_token  # ask for a code again
            context["error"] = error.code.message
            response = await self.page(request, "sqladmin/login.html", context, error.status)
            response.headers.update(error.headers)
            return response

    async def refused(self, request: Request, exc: Exception) -> Response:
        """The error page of an `HTTPException` or `AppError` (with its status, message
        and headers, such as `Allow`), or of a database that does not answer (503)."""
        status, message, headers = _answer(exc)
        context = {"status_code": status, "message": message}
        response = await self.page(request, "sqladmin/error.html", context, status)
        response.headers.update(headers)
        return response


CODE_REFUSALS = frozenset({ErrorCode.TWO_FACTOR_CODE_INVALID, ErrorCode.TOO_MANY_ATTEMPTS})


def _answer(exc: Exception) -> tuple[int, str, Mapping[str, str]]:
    if isinstance(exc, HTTPException):
        return exc.status_code, exc.detail, exc.headers or {}
    error = exc if isinstance(exc, AppError) else OUTAGE
    return error.status, error.code.message, error.headers


def mount_back_office(app: FastAPI) -> None:
    """Serve the back office at /admin of `app` (built by `create_app`)."""
    BackOffice(app, app_state(app))
