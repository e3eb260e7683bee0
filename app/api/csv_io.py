"""CSV over HTTP: a list sent as a file while it is read, and a file uploaded to import.

An export answers `text/csv` as an attachment named after the list and the day
(`users-20261205.csv`), with the number of matching rows in `X-Total-Count`. An
import takes one file field, `file`, of a CSV type (a spreadsheet's or a browser's
name for it: `text/csv`, `application/csv`, `text/plain`, `application/vnd.ms-excel`;
else 415), of at most CSV_IMPORT_MAX_BYTES (else 413, as for any body past
MAX_REQUEST_BODY_BYTES).
"""

from typing import Annotated

from fastapi import Depends, File, UploadFile
from fastapi.responses import StreamingResponse

from app.api.deps import SettingsDep
from app.core.csv_files import checked_upload
from app.core.errors import ErrorCode, Responses, responses, row_errors
from app.models.fields import utcnow
from app.services.exports import Export


class CsvResponse(StreamingResponse):
    """A CSV file, sent while it is written."""

    media_type = "text/csv"


def csv_download(name: str, export: Export) -> CsvResponse:
    """`export` as the attachment `name-YYYYMMDD.csv` (today, in UTC)."""
    filename = f"{name}-{utcnow():%Y%m%d}.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Total-Count": str(export.total),
    }
    return CsvResponse(export.chunks, headers=headers)


CSV_DOWNLOAD: Responses = {
    200: {
        "description": "A CSV file (UTF-8, a header row of camelCase field names)",
        "headers": {
            "Content-Disposition": {
                "description": 'attachment; filename="<list>-YYYYMMDD.csv"',
                "schema": {"type": "string"},
            },
            "X-Total-Count": {
                "description": "Rows that match; the file holds CSV_EXPORT_MAX_ROWS at most",
                "schema": {"type": "integer"},
            },
        },
    }
}
CSV_UPLOAD: Responses = {
    **responses(
        ErrorCode.CSV_UNREADABLE,
        ErrorCode.BODY_TOO_LARGE,
        ErrorCode.CSV_TOO_MANY_ROWS,
        ErrorCode.CSV_CONTENT_TYPE,
    ),
    **row_errors(),
}


def read_csv_upload(
    file: Annotated[
        UploadFile, File(description="A CSV file: UTF-8, a header row of camelCase field names")
    ],
    settings: SettingsDep,
) -> bytes:
    """The uploaded file's bytes: 415 unless it says it is CSV, 413 past
    CSV_IMPORT_MAX_BYTES."""
    limit = settings.csv_import_max_bytes
    return checked_upload(file.content_type, file.file.read(limit + 1), max_bytes=limit)


CsvUpload = Annotated[bytes, Depends(read_csv_upload)]
