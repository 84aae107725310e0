"""HTTP messages as the emulated FIWARE services see them (httpx types), and their exact JSON
wire format.

The real services are written in JavaScript (STH-Comet, IoT Agent) and C++ (Orion). Their JSON is
compact, keeps key order and writes integral numbers without ``.0``. :func:`encode_json` produces
the same bytes from parsed Python values (``22.0`` becomes ``22``, ``1e-7`` becomes ``1e-7``).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, unquote

import httpx
from bson import ObjectId

ResponseAction = Literal["respond", "hang", "drop", "truncate"]
Headers = list[tuple[str, str]]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # the extended form; no week or ordinal dates
_PROCESS_RANDOM = os.urandom(5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_SANDBOX = httpx.URL("http://sandbox")
_TARGET_SAFE = "".join(chr(code) for code in range(33, 127))
_ACTION = "sandbox_action"
_HANG_SECONDS = "sandbox_hang_seconds"


def make_request(
    method: str, target: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
) -> httpx.Request:
    """An ``httpx.Request`` for a raw request-target as a server received it (no Host or
    Content-Length headers, so the emulators see exactly what the client chose to send)."""
    raw = quote(target, safe=_TARGET_SAFE, encoding="latin-1").encode("ascii")
    url = _SANDBOX.copy_with(raw_path=raw)
    request = httpx.Request(method, url, headers=list(headers), content=body)
    for name in ("host", "content-length"):
        request.headers.pop(name, None)
    return request


def target_of(request: httpx.Request) -> str:
    """The raw request-target (path and query, percent-encoding kept)."""
    return request.url.raw_path.decode("ascii")


def raw_path(request: httpx.Request) -> str:
    return target_of(request).split("?", 1)[0] or "/"


def path_segments(request: httpx.Request) -> list[str]:
    """The path's segments, each percent-decoded on its own (``%2F`` stays inside one)."""
    return [unquote(segment) for segment in raw_path(request).split("/")[1:]]


def respond(
    status: int,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    action: ResponseAction = "respond",
    hang_seconds: float = 0.0,
) -> httpx.Response:
    """An answer. ``action`` other than ``respond`` emulates a misbehaving server.

    ``hang``: never answer (the connection stays open ``hang_seconds``, then closes silently);
    ``drop``: close the connection without a status line; ``truncate``: announce the full
    ``Content-Length`` but send only half of the body, then close.
    """
    response = httpx.Response(status, headers=list(headers), content=body)
    response.headers.pop("content-length", None)  # the server writes its own
    set_action(response, action, hang_seconds)
    return response


def set_action(response: httpx.Response, action: ResponseAction, hang_seconds: float = 0.0) -> None:
    response.extensions[_ACTION] = action
    response.extensions[_HANG_SECONDS] = hang_seconds


def action_of(response: httpx.Response) -> ResponseAction:
    action: ResponseAction = response.extensions.get(_ACTION, "respond")
    return action


def hang_seconds_of(response: httpx.Response) -> float:
    return float(response.extensions.get(_HANG_SECONDS, 0.0))


# --------------------------------------------------------------------------- JSON


class InvalidJSON(ValueError):
    """A request body is not JSON (``position`` is where parsing stopped)."""

    def __init__(self, message: str, position: int, truncated: bool) -> None:
        super().__init__(message)
        self.position = position
        self.truncated = truncated


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Parse a request body like a JavaScript/C++ JSON parser (no NaN/Infinity)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON("body is not UTF-8", exc.start, False) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip())
        raise InvalidJSON(exc.msg, exc.pos, truncated) from None
    except ValueError as exc:
        raise InvalidJSON(str(exc), 0, False) from None


def js_number(value: float) -> str:
    """Format a number the way JavaScript's ``Number.prototype.toString`` does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    exponent = int(digits_tuple.exponent)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + text


def _encode(value: Any, out: Callable[[str], None]) -> None:
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, str):
        out(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int | float):
        out(js_number(value))
    elif isinstance(value, dict):
        out("{")
        first = True
        for key, item in value.items():
            if not first:
                out(",")
            first = False
            out(json.dumps(str(key), ensure_ascii=False))
            out(":")
            _encode(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(",")
            _encode(item, out)
        out("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _NeedsJavaScriptFormatting(Exception):
    """A float that Python's ``repr`` writes differently from JavaScript."""


_EXACT_INTEGER_LIMIT = 2.0**53


def _plain(value: Any) -> Any:
    """Integral floats as ints, so the C encoder writes them like JavaScript does."""
    kind = type(value)
    if kind is float:
        magnitude = abs(value)
        if value.is_integer() and magnitude < _EXACT_INTEGER_LIMIT:
            return int(value)
        if magnitude < 1e-4 or magnitude >= _EXACT_INTEGER_LIMIT or math.isnan(value):
            raise _NeedsJavaScriptFormatting
        return value
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    return value


def encode_json(value: Any) -> str:
    """Compact JSON with JavaScript number formatting, key order kept, non-ASCII unescaped."""
    try:
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    except (_NeedsJavaScriptFormatting, TypeError, ValueError):
        parts: list[str] = []
        _encode(value, parts.append)
        return "".join(parts)


def json_bytes(value: Any) -> bytes:
    return encode_json(value).encode("utf-8")


# --------------------------------------------------------------------------- ids and clocks


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    """``2024-01-01T00:00:00.000Z`` (JavaScript ``Date.prototype.toISOString``)."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds (floored) of ``moment``; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def parse_date_ms(text: str) -> int | None:
    """Epoch ms of a millisecond number or an ISO-8601 date (naive means UTC); None if invalid."""
    stripped = text.strip()
    if re.fullmatch(r"-?\d+", stripped):
        return int(stripped)
    if not _ISO_DATE.match(stripped):
        return None
    try:
        return to_epoch_ms(datetime.fromisoformat(stripped))
    except ValueError:
        return None


def uptime_text(seconds: float) -> str:
    """``1 d, 2 h, 3 m, 4 s``, as Orion and Orion-LD report their uptime."""
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{days} d, {hours} h, {minutes} m, {secs} s"


def new_object_id() -> str:
    return str(ObjectId())


def sequence_object_id(seconds: int, sequence: int) -> str:
    """A stable ObjectId derived from a stored sequence number (no state kept per point)."""
    stamp = (seconds & 0xFFFFFFFF).to_bytes(4, "big")
    return str(ObjectId(stamp + _PROCESS_RANDOM + (sequence & 0xFFFFFF).to_bytes(3, "big")))


def random_correlator() -> str:
    return str(uuid.uuid4())


def time_correlator() -> str:
    return str(uuid.uuid1())
