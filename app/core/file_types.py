"""What an uploaded file is, judged by its bytes (never by the name or type a client
gives), and what it may be called: a stored name and a `Content-Disposition`.

Types come from the file's signature (`puremagic`, pure Python). A file without one
is text when its start decodes as UTF-8 without control characters, and markup
(`text/html`) when that text starts with `<`: HTML, SVG, XML and the like all count
as active content, which is never accepted by default and never shown inline.
"""

import re
import unicodedata
from urllib.parse import quote

import puremagic

SNIFF_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
# Types a browser may run as a page or script: served as opaque bytes, always.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/javascript",
    }
)
MAX_FILENAME = 255
_SEPARATORS = re.compile(r"[\\/]")
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._ ()+-]")
_CONTROLS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def sniff(head: bytes) -> str:
    """The media type of a file that starts with `head` (its first SNIFF_BYTES)."""
    try:
        found = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        found = []
    for match in found:
        if match.mime_type:
            return str(match.mime_type).lower()
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # a character cut at the end of `head` is fine
        if exc.start < len(head) - 3:
            return OCTET_STREAM
        text = head[: exc.start].decode("utf-8-sig")
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f" for char in text):
        return OCTET_STREAM
    return "text/html" if text.lstrip().startswith("<") else "text/plain"


def served_type(content_type: str) -> str:
    """The `Content-Type` a download is sent with: active content as opaque bytes."""
    return OCTET_STREAM if content_type in ACTIVE_TYPES else content_type


def clean_filename(name: str | None) -> str:
    """What a file is called, from the name a client gave: its last path segment,
    NFC, without control, format or separator characters, no leading dots, at most
    MAX_FILENAME characters (the extension kept); `file` when nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = _SEPARATORS.split(name)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _CONTROLS)
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 16:
            stem, dot, extension = name, "", ""
        name = stem[: MAX_FILENAME - len(extension) - len(dot)].rstrip() + dot + extension
    return name or "file"


def content_disposition(filename: str) -> str:
    """`attachment` with the name for every browser: an ASCII `filename` and the
    UTF-8 `filename*` of RFC 6266 / RFC 8187."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _UNSAFE_ASCII.sub("_", ascii_name).strip() or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
