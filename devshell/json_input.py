"""JSON from the outside world (request bodies, WebSocket frames), read strictly.

The standard library accepts ``NaN``, ``Infinity`` and numbers such as ``1e999``
(which become ``inf``); a non-finite number handed on as a timeout or a size
makes waits never end and comparisons lie, so they are refused here, once, for
every reader. Nesting deep enough to exhaust the parser's recursion becomes a
plain ValueError too, so callers answer 400 instead of failing with a
RecursionError.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH_MESSAGE = "the JSON value is nested too deeply"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number (non-finite numbers are refused)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range for a JSON number (non-finite numbers are refused)")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


def loads(data: str | bytes | bytearray) -> Any:
    """The value of the JSON text *data*; a ValueError for anything malformed, non-finite or too deep."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
        except UnicodeDecodeError as exc:  # a ValueError already; this says it in one line
            raise ValueError(f"the JSON text is not valid {exc.encoding}") from None
    else:
        text = data
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError(MAX_DEPTH_MESSAGE) from None


dumps = json.dumps  #: so this module stands in for ``json`` where one is wanted (werkzeug's ``json_module``)
