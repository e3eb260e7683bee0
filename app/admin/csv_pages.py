"""CSV on a screen: "Export CSV" sends the list as the screen shows it (searched,
filtered and sorted, not paged), and "Import CSV" creates rows from a file.

Both are the API's: the export streams the list in batches with the columns of its
public model (`app.services.exports`, formulas neutralised), and the import checks
every row by the rules of the create route and creates all of them or none
(`app.services.imports`), as the signed-in admin, with a page that lists every bad
row. The upload form carries the sign-in's CSRF token, like every form here.
"""

from functools import partial
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from sqladmin import expose
from sqladmin._types import SimpleColumnFilter
from sqlalchemy import Select, select
from sqlalchemy.sql import ColumnElement
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.notices import notify
from app.admin.views import FormError, ServiceView
from app.api.csv_io import csv_download
from app.api.deps import OwnSessions
from app.core.csv_files import checked_upload
from app.core.errors import AppError, RowsInvalid
from app.core.pagination import ListFilter
from app.core.state import AppState
from app.services import exports
from app.services.exports import Export

IMPORT_TEMPLATE = "sqladmin/csv_import.html"
NO_FILE = "Choose a CSV file to import."


def _start_export(
    state: AppState,
    query: ListFilter,
    public: type[BaseModel],
    conditions: list[ColumnElement[bool]],
) -> Export:
    with state.database.session(read_only=True) as db:
        return exports.export(
            db, OwnSessions(state).read, query, public, filters=conditions,
            max_rows=state.settings.csv_export_max_rows,
        )  # fmt: skip


class CsvScreen(ServiceView):
    """A screen whose list goes out, and whose rows come in, as CSV files."""

    csv_name: ClassVar[str]  # the file's name: "users" gives users-YYYYMMDD.csv
    csv_filter: ClassVar[type[ListFilter]]  # the API list's filter (its sort allow-list)
    csv_public: ClassVar[type[BaseModel]]  # the file's columns
    csv_columns: ClassVar[str]  # the columns an import takes, as the page says them

    def export_url(self, request: Request) -> str:
        """The export of the list as it is on screen."""
        page = request.url_for(f"admin:view-{self.identity}-export_csv")
        return str(page.include_query_params(**request.query_params))

    def import_url(self, request: Request) -> str:
        """The import page."""
        return str(request.url_for(f"admin:view-{self.identity}-import_csv"))

    @expose("/export.csv")
    async def export_csv(self, request: Request) -> Response:
        """The list as the screen shows it (search, filters, sort), as a CSV file."""
        conditions = await self._on_screen(request)
        start = partial(_start_export, self.state, self._sorted(request), self.csv_public)
        found = await self.state.threads.run(partial(start, conditions), writes=False)
        return csv_download(self.csv_name, found)

    def _sorted(self, request: Request) -> ListFilter:
        """The API list's filter with the screen's order (the default one when the
        screen sorts by a column that the API's list does not)."""
        column, order = request.query_params.get("sortBy"), request.query_params.get("sort")
        if not column:
            return self.csv_filter()
        sort = ("-" if order == "desc" else "") + to_camel(column)
        try:
            return self.csv_filter.model_validate({"sort": sort})
        except ValidationError:
            return self.csv_filter()

    async def _on_screen(self, request: Request) -> list[ColumnElement[bool]]:
        """The screen's search and filters, as one condition on the rows' ids."""
        key = self.pk_columns[0]
        chosen: Select[Any] = select(key)
        term = request.query_params.get("search")
        if term:
            chosen = self.search_query(chosen, term)
        for found in self.get_filters():
            value = request.query_params.get(found.parameter_name)
            if value:
                screen_filter = cast(SimpleColumnFilter, found)
                chosen = await screen_filter.get_filtered_query(chosen, value, self.model)
        if chosen.whereclause is None:
            return []
        return [key.in_(chosen.correlate(None).scalar_subquery())]

    @expose("/import-csv", methods=["GET", "POST"])  # SQLAdmin has POST /import
    async def import_csv(self, request: Request) -> Response:
        """The import page, and importing the file it sends."""
        if request.method == "GET":
            return await self._import_page(request, {})
        upload = (await request.form()).get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise FormError(NO_FILE)
            limit = self.state.settings.csv_import_max_bytes
            data = checked_upload(
                upload.content_type, await upload.read(limit + 1), max_bytes=limit
            )
            created = await self.import_rows(request, data)
        except RowsInvalid as refused:
            return await self._import_page(request, {"problems": refused.problems}, 400)
        except AppError as refused:  # not a CSV file, or too large
            return await self._import_page(request, {"error": refused.code.message}, 400)
        except FormError as error:
            return await self._import_page(request, {"error": str(error)}, 400)
        notify(request, f"{self.counted(created)} imported.")
        return RedirectResponse(request.url_for("admin:list", identity=self.identity), 303)

    async def import_rows(self, request: Request, data: bytes) -> int:
        """Create a row for each row of the CSV file `data`, all or none (see
        `app.services.imports`); returns how many."""
        raise NotImplementedError

    async def _import_page(
        self, request: Request, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        settings = self.state.settings
        page: dict[str, Any] = {
            "model_view": self,
            "title": f"Import {self.noun(2)}",
            "max_bytes": settings.csv_import_max_bytes,
            "max_rows": settings.csv_import_max_rows,
            "problems": [],
            **context,
        }
        return await self.templates.TemplateResponse(request, IMPORT_TEMPLATE, page, status_code)
