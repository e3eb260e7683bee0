"""What an upload is judged to be from its bytes, what it may be called, and the
storage settings that are refused."""

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.file_types import clean_filename, content_disposition, served_type, sniff


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(32), "image/png"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"plain words\r\n\tand a tab", "text/plain"),
        ("caf\u00e9".encode()[:-1], "text/plain"),  # a character cut at the end of the head
        (b"\xef\xbb\xbf  <html><body>", "text/html"),  # a byte order mark, then markup
        (b"  <svg xmlns='http://www.w3.org/2000/svg'>", "text/html"),
        (b"text\x00with a NUL", "application/octet-stream"),
        (b"\x80\x81\x82 not UTF-8 " * 4, "application/octet-stream"),
        (b"escape \x1b[31m", "application/octet-stream"),
    ],
    ids=["png", "pdf", "text", "cut-utf8", "bom-html", "svg", "nul", "not-utf8", "control"],
)
def test_the_type_comes_from_the_bytes(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_active_content_is_served_as_opaque_bytes() -> None:
    assert served_type("image/svg+xml") == "application/octet-stream"
    assert served_type("text/html") == "application/octet-stream"
    assert served_type("image/png") == "image/png"


def test_a_long_name_keeps_a_short_extension_only() -> None:
    assert clean_filename("a" * 300 + ".tar") == "a" * 251 + ".tar"
    assert clean_filename("a" * 300 + "." + "b" * 40) == ("a" * 300 + "." + "b" * 40)[:255]
    assert clean_filename("no-extension-" + "x" * 300) == ("no-extension-" + "x" * 300)[:255]


def test_a_name_of_no_ascii_has_an_ascii_fallback() -> None:
    disposition = content_disposition('履歴書"; x=y.pdf')
    assert disposition.startswith("attachment; filename=\"__ x_y.pdf\"; filename*=UTF-8''")
    assert content_disposition("履歴書").startswith('attachment; filename="file";')


@pytest.mark.parametrize(
    "values",
    [
        {"attachment_storage": "s3"},
        {"s3_access_key_id": "only-the-id"},
        {"attachment_storage": "s3", "s3_bucket": "ok-bucket", "s3_secret_access_key": "x"},
    ],
    ids=["s3-without-bucket", "key-without-secret", "secret-without-key"],
)
def test_incomplete_storage_settings_stop_start_up(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, environment="test", **values)  # type: ignore[arg-type]


def test_the_accepted_types_are_read_from_a_list() -> None:
    settings = Settings(
        _env_file=None, environment="test", attachment_content_types=" Image/PNG, text/plain ,"
    )
    assert settings.attachment_content_types == ["image/png", "text/plain"]
