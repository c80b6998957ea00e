"""Cross-site request refusal (CSRF): a state-changing request must come from the server's own pages.

Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current
browser) and ``Origin`` (on every POST). A page of another site can make a
logged-in browser send a POST with its cookie, but it cannot forge those two
headers. So for POST, PUT, PATCH and DELETE:

1. an ``Origin`` listed in the ``trusted_origins`` setting is let through;
2. else, with ``Sec-Fetch-Site``: only ``same-origin`` and ``none`` (typed by the
   user) pass; ``same-site`` is refused too, since with ``dbfilter %d`` a
   sibling subdomain serves another database;
3. else, with ``Origin``: it must name this server's own host (``null`` never does);
4. a request with neither header is not from a browser page (curl, scripts,
   ``devshell deploy``) and carries no ambient authority to abuse: it passes.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Iterable

from werkzeug.exceptions import Forbidden

if TYPE_CHECKING:
    from .request import Request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": "80", "https": "443"}
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` lowercased, the scheme's default port dropped; None for anything else."""
    try:
        parts = urllib.parse.urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and str(port) != DEFAULT_PORTS[parts.scheme]:
        host += f":{port}"
    return f"{parts.scheme}://{host}"


def same_host(origin: str, host: str) -> bool:
    """True when *origin* names *host* (the request's Host header), whatever the scheme.

    A TLS-terminating proxy makes the request itself plain HTTP while the page's
    origin is https, so the scheme is not compared; the host and port are.
    """
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    scheme, _, origin_host = normalized.partition("://")
    host = host.strip().lower()
    default = ":" + DEFAULT_PORTS[scheme]
    if host.endswith(default):
        host = host[: -len(default)]
    return origin_host == host


def refusing_header(origin: str | None, fetch_site: str | None, host: str,
                    trusted: Iterable[str] = ()) -> tuple[str, str] | None:
    """The header, and its value, by which a browser page's request to *host* is refused; None when it passes.

    Rules 1 to 4 of the module, for a state-changing request and for a WebSocket
    upgrade alike: *origin* and *fetch_site* are the ``Origin`` and
    ``Sec-Fetch-Site`` headers (None when absent), *trusted* the ``trusted_origins``.
    """
    if origin is not None and normalize_origin(origin) in {normalize_origin(item) for item in trusted} - {None}:
        return None
    if fetch_site is not None:
        return None if fetch_site.strip().lower() in ALLOWED_FETCH_SITES else ("Sec-Fetch-Site", fetch_site)
    if origin is not None and not same_host(origin, host):
        return ("Origin", origin)
    return None


def cross_site_reason(request: "Request", trusted: Iterable[str] = ()) -> str | None:
    """Why *request* is refused as cross-site, or None when it may change state."""
    if request.method not in UNSAFE_METHODS:
        return None
    refused = refusing_header(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), request.host,
                              trusted)
    if refused is None:
        return None
    header, value = refused
    if header == "Sec-Fetch-Site":
        return f"the browser says this request comes from another site (Sec-Fetch-Site: {value[:40]})"
    return f"the request comes from {value[:100]!r}, not from this server"


def refuse_cross_site(request: "Request") -> None:
    """403 for a cross-site state-changing request (see the module's rules)."""
    reason = cross_site_reason(request, request.app.config.get("trusted_origins") or ())
    if reason is not None:
        raise Forbidden(f"cross-site request refused: {reason}; pages of another site cannot post here "
                        "(list their origin in the trusted_origins setting if they should)")
