"""The wire conventions of /s1services: case-insensitive requests, cp1253 answers, error envelope."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any

import orjson

CONTENT_TYPE = "application/json; charset=windows-1253"

# The published texts of SoftOne's error table (SOFTONE.md §4).
MSG_LOGIN_FIRST = "Invalid request. Please login first"
MSG_BAD_LOGIN = "Login fails due to invalid login credentials."
MSG_BAD_AUTHENTICATE = "Authenticate fails due to invalid credentials."
MSG_MODULE_NOT_ACTIVATED = "Access denied. Selected module not activated!"
MSG_INVALID_APPID = "Invalid AppId. Ensure that your request includes a valid AppId"
MSG_SESSION_EXPIRED = "Invalid Request, session has expired!"
MSG_INVALID_CALL = "Invalid Web Service call."
MSG_INVALID_REQUEST = "Invalid Request. Ensure that your request is valid"
MSG_REQID_EXPIRED = 'Invalid request, "reqID" expired.'
MSG_REQID_NOT_FOUND = '"ReqId" not found on Server!'
MSG_DATA_NOT_FOUND = "Invalid request, Data does not exist."


class ServiceError(Exception):
    """An application error: answered as HTTP 200 ``{"success":false,"errorcode":n,"error":...}``."""

    def __init__(self, errorcode: int, message: str) -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message

    def payload(self) -> dict[str, Any]:
        return {"success": False, "errorcode": self.errorcode, "error": self.message}


def business_error(message: str) -> ServiceError:
    """errorcode 0: the ERP's validation/business logic refused the request."""
    return ServiceError(0, message)


def invalid_request(detail: str = "") -> ServiceError:
    return ServiceError(-9, f"{MSG_INVALID_REQUEST}: {detail}" if detail else MSG_INVALID_REQUEST)


class Params:
    """Request parameters with case-insensitive names, as S1 treats them."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._values = {str(k).lower(): v for k, v in raw.items()}

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name.lower(), default)

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def text(self, name: str, default: str = "") -> str:
        """A scalar parameter as text: S1 accepts numbers or numeric strings alike."""
        value = self._values.get(name.lower())
        if value is None:
            return default
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | float | str):
            return str(value)
        raise invalid_request(f"parameter {name} must be a string or a number")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self._values.get(name.lower())
        if value is None or value == "":
            return default
        try:
            return int(str(value).strip())
        except ValueError:
            raise invalid_request(f"parameter {name} must be an integer, got {value!r}") from None

    def names(self) -> list[str]:
        return list(self._values)


def parse_body(body: bytes) -> Params:
    """Parse a request body as JSON whatever its Content-Type (clients label it all sorts of ways)."""
    if not body.strip():
        raise invalid_request("empty request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Nobody is known to send cp1253 bodies, but accepting them costs nothing.
        text = body.decode("cp1253", errors="replace")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise invalid_request("the body is not JSON") from None
    if not isinstance(data, dict):
        raise invalid_request("the body must be a JSON object")
    return Params(data)


def to_cp1253(text: str) -> str:
    """What survives a round trip through the ERP's code page: others become '?' as in S1."""
    return text.encode("cp1253", errors="replace").decode("cp1253")


def encode_payload(payload: Any) -> bytes:
    """JSON bytes in windows-1253: Greek as raw 1253 bytes, not ``\\uXXXX`` escapes."""
    return orjson.dumps(payload).decode("utf-8").encode("cp1253", errors="replace")


def wants_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, q = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return q.strip().replace(" ", "") not in ("q=0", "q=0.0")
    return False


def gzip_body(body: bytes) -> bytes:
    # Level 1: the client only needs a valid stream; higher levels would dominate page cost.
    return gzip.compress(body, compresslevel=1, mtime=0)
