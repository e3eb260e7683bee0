"""Where a request that a browser sends with its cookies may come from: the one rule
against cross-site request forgery, used by the back office and the API's cookie mode.

Browsers attach cookies to requests that other sites' pages make (a form posted to
the API, an image, a `fetch`), so a cookie alone does not show that the user's own
frontend sent the request. What does: the fetch metadata every current browser sends
(`Sec-Fetch-Site`), else the `Origin` header, else the `Referer`. A request passes
when it comes from this service's own origin, or from an origin the caller trusts
(the API: CORS_ORIGINS, its frontends; the back office: none).
"""

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope


def own_origin(scope: Scope, headers: Headers) -> str:
    """The origin the request was sent to (`http://host:port`, as the client named it)."""
    return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return f"{parts.scheme}://{parts.netloc}"


def from_trusted_page(
    scope: Scope,
    headers: Headers,
    *,
    state_changing: bool,
    trusted: Collection[str] = (),
    unmarked: bool = False,
) -> bool:
    """Whether a page of this origin, or of a `trusted` origin, made the request.

    With fetch metadata: `same-origin` passes; `same-site` or `cross-site` passes
    from a trusted `Origin`; a top-level navigation passes when it only reads.
    Without it: the `Origin`, else (to change state) the `Referer`, must be this
    origin or a trusted one; a request with none of them (no browser page sent it)
    passes to read, and to change state when `unmarked` is true.
    """
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None:
        if site == "same-origin":
            return True
        if site in ("same-site", "cross-site") and origin is not None and origin in trusted:
            return True
        return not state_changing and headers.get("sec-fetch-mode") == "navigate"
    allowed = {own_origin(scope, headers), *trusted}
    if origin is not None:
        return origin in allowed
    if not state_changing:
        return True  # a client without fetch metadata reading a page
    referer = headers.get("referer")
    if referer is None:
        return unmarked
    return _origin_of(referer) in allowed
