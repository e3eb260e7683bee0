"""The two-factor page: the signed-in admin's own two-factor sign-in.

Set it up (the password first, as `POST /users/me/two-factor` asks), scan the QR
code of the `otpauth://` URI (an SVG drawn by segno, as a `data:` image: the page
loads nothing from elsewhere) or type the secret, confirm with a code, and note the
ten recovery codes shown once; or turn it off with the password and a code. Each
step is the API's own service call, in a transaction of the signed-in admin. With
REQUIRE_ADMIN_2FA, a sign-in without a second factor opens only this page
(`auth.py`); confirming the enrolment lets that sign-in in everywhere.
"""

from functools import partial
from typing import Any, ClassVar

import segno
from sqladmin import BaseView, expose
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import SignedIn, as_admin
from app.admin.notices import notify
from app.core.errors import AppError
from app.core.state import AppState
from app.models import RecoveryCodes, TwoFactorEnrolment, TwoFactorStatus
from app.services import two_factor

TEMPLATE = "sqladmin/two_factor.html"


def qr_code(uri: str) -> str:
    """The QR code of `uri`, as an SVG `data:` URI for an `<img>`."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


class TwoFactorAdmin(BaseView):
    name = "Two-factor sign-in"
    icon = "fa-solid fa-shield-halved"
    state: ClassVar[AppState]

    @expose("/two-factor", methods=["GET", "POST"], identity="two-factor")
    async def two_factor_page(self, request: Request) -> Response:
        """The page, and its three forms (`step`: start, confirm, disable)."""
        signed_in: SignedIn = request.state.back_office
        context: dict[str, Any] = {}
        if request.method == "POST":
            form = await request.form()
            step = str(form.get("step"))
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            try:
                done = await self._do(request, signed_in, step, fields)
            except AppError as error:
                context["error"], context["error_step"] = error.code.message, step
            else:
                if done is None:  # the page itself says what changed
                    return RedirectResponse(request.url, status_code=303)
                context.update(done)
        return await self._page(request, signed_in, context)

    async def _do(
        self, request: Request, signed_in: SignedIn, step: str, fields: dict[str, str]
    ) -> dict[str, Any] | None:
        """Do `step`; returns what the page shows once (the recovery codes), or None
        when the page, loaded again, shows the change."""
        state, user = self.state, signed_in.user
        ip_address = request.client.host if request.client else None
        password, code = fields.get("password", "")[:1024], fields.get("code", "")[:64]
        if step == "start":
            work = partial(
                as_admin, state.database, signed_in, two_factor.start_enrolment, state.hasher,
                state.settings, user, current_password=password, ip_address=ip_address,
            )  # fmt: skip
            await state.threads.run_hashing(work)
            return None
        if step == "confirm":
            confirm = partial(
                as_admin, state.database, signed_in, two_factor.confirm_enrolment,
                state.settings, user, code=code, session_id=signed_in.claims.session_id,
                ip_address=ip_address,
            )  # fmt: skip
            codes: RecoveryCodes = await state.threads.run(confirm, writes=True)
            # This sign-in has now proven a second factor: shown once, not in a link.
            return {"recovery_codes": codes.recovery_codes, "session_two_factor": True}
        if step == "disable":
            turn_off = partial(
                as_admin, state.database, signed_in, two_factor.disable, state.hasher,
                state.settings, user, current_password=password, code=code,
                ip_address=ip_address,
            )  # fmt: skip
            await state.threads.run_hashing(turn_off)
            notify(request, "Two-factor sign-in is off.")
            return None
        return {}

    async def _page(
        self, request: Request, signed_in: SignedIn, context: dict[str, Any]
    ) -> Response:
        state = self.state
        read = partial(_read_overview, state, signed_in)
        status, enrolment = await state.threads.run(read, writes=False)
        context = {
            "title": self.name,
            "status": status,
            "enrolment": enrolment,
            "qr_code": qr_code(enrolment.otpauth_uri) if enrolment else None,
            "session_two_factor": signed_in.two_factor,
            "required": state.settings.require_admin_2fa,
            **context,
        }
        status_code = 400 if "error" in context else 200
        return await self.templates.TemplateResponse(request, TEMPLATE, context, status_code)


def _read_overview(
    state: AppState, signed_in: SignedIn
) -> tuple[TwoFactorStatus, TwoFactorEnrolment | None]:
    with state.database.session(read_only=True) as db:
        status = two_factor.status(db, signed_in.user)
        factor = two_factor.factor_of(db, signed_in.user.id) if status.pending else None
        if factor is None:
            return status, None
        return status, two_factor.enrolment_of(state.settings, signed_in.user, factor)
