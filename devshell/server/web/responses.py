"""How what a route returns, and what goes wrong, become WSGI responses (JSON or a small HTML page)."""

from __future__ import annotations

import datetime
import decimal
import html
import json
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response


def start_response_for(response: Response, environ: dict[str, Any], start_response: Any) -> Any:
    """``response(environ, start_response)``, without werkzeug's copies for a plain buffered response.

    werkzeug copies the headers to fix Location and Content-Length, and wraps the
    body to call close callbacks; a response with none of those needs neither, and
    this is a good part of what a small route costs.
    """
    status = response.status_code
    if (type(response) is Response and 200 <= status < 300 and status != 204 and response.is_sequence
            and not response.direct_passthrough and not getattr(response, "_on_close", True)
            and environ.get("REQUEST_METHOD") != "HEAD"):
        body = response.response
        headers = response.headers.to_wsgi_list()
        names = {name.lower() for name, _value in headers}
        if (isinstance(body, list) and all(type(chunk) is bytes for chunk in body) and "content-length" in names
                and "location" not in names and "content-location" not in names):
            start_response(response.status, headers)
            return body
    return response(environ, start_response)


def json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, default=json_default, separators=(",", ":"))
    return Response(body, status=status, content_type="application/json")


def error_response(exc: HTTPException, *, as_json: bool, details: str | None = None) -> Response:
    """*exc* as a JSON body ``{"error": {"code", "name", "message"}}`` or a small HTML page."""
    code = exc.code or 500
    message = exc.description or exc.name
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")]
    if as_json:
        error: dict[str, Any] = {"code": code, "name": exc.name, "message": message}
        if details:
            error["traceback"] = details
        response = json_response({"error": error}, code)
    else:
        body = (f"<!doctype html>\n<html><head><title>{code} {html.escape(exc.name)}</title></head>"
                f"<body><h1>{html.escape(exc.name)}</h1><p>{html.escape(message)}</p>"
                + (f"<pre>{html.escape(details)}</pre>" if details else "") + "</body></html>\n")
        response = Response(body, status=code, content_type="text/html; charset=utf-8")
    for key, value in headers:
        response.headers[key] = value
    return response
