"""The client behind a reverse proxy: `X-Forwarded-For` and `X-Forwarded-Proto`, trusted
only when they come from a proxy named in FORWARDED_ALLOW_IPS.

`X-Forwarded-For` is read from the right: each proxy appends the address it saw, so
the right-most entries are written by proxies and only the left-most ones can be
made up by the client. With a list of proxies (addresses or networks), the client is
the first address from the right that is not one of them. With `*` (any peer is a
proxy), the client is the right-most entry: the address the nearest proxy saw, which
the client cannot choose. An entry that is not an IP address ends the walk, so the
client address is always a real address.
"""

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.middleware import HttpMiddleware

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(value: str) -> Address | None:
    """The IP address in `value` (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`), or None."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


class TrustedProxies:
    """The proxies named by FORWARDED_ALLOW_IPS: `*`, or addresses and networks."""

    def __init__(self, setting: str) -> None:
        entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
        self.any = "*" in entries
        self.networks = [
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        ]

    def __contains__(self, address: Address | None) -> bool:
        if address is None:
            return False
        return self.any or any(address in network for network in self.networks)

    def client(self, peer: Address, forwarded_for: list[str]) -> Address:
        """The client of a request that `peer` (a trusted proxy) forwarded."""
        client = peer
        for entry in reversed(forwarded_for):
            address = parse_address(entry)
            if address is None:
                break
            client = address
            if self.any or address not in self:
                break
        return client


class ForwardedHeadersMiddleware(HttpMiddleware):
    """Sets the request's client address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        super().__init__(app)
        self.proxies = TrustedProxies(trusted)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarded_for: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        peer = scope.get("client")
        if (forwarded_for or proto) and peer:  # the peer is parsed only when it matters
            peer_address = parse_address(peer[0])
            if peer_address is not None and peer_address in self.proxies:
                if forwarded_for:
                    client = self.proxies.client(peer_address, forwarded_for)
                    scope["client"] = (str(client), peer[1])
                if proto in ("http", "https"):
                    scope["scheme"] = proto
        await self.app(scope, receive, send)
