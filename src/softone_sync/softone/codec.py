"""Wire format of SoftOne answers: windows-1253 bytes, JSON, case-insensitive envelope keys.

SoftOne sends ``application/json; charset=windows-1253`` with raw cp1253 bytes (Greek is not
``\\u``-escaped), so the body must be decoded explicitly before JSON parsing: orjson, like the
stdlib, only understands UTF-8. Pure-ASCII bodies are identical in both encodings and skip the
decode step entirely, which keeps the browse hot path to one ``isascii`` scan plus one parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from .errors import ProtocolError, SoftOneError, error_for

SOFTONE_CHARSET = "cp1253"

# Charset labels that mean "this body really is UTF-8" (a proxy or a future server may say so).
_UTF8_LABELS = frozenset({"utf-8", "utf8"})


class BodyNotJson(ValueError):
    """The body is not a JSON object: a ping/IIS page, a truncated answer, an empty body."""


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, lower-cased, or None."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def decode_text(content: bytes, content_type: str | None) -> str:
    """Body bytes as text: UTF-8 only when the header says so, otherwise windows-1253."""
    if charset_of(content_type) in _UTF8_LABELS:
        return content.decode("utf-8", errors="replace")
    # cp1253 leaves a handful of byte values undefined; a stray one must not sink a whole page.
    return content.decode(SOFTONE_CHARSET, errors="replace")


def parse_body(content: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode and parse a SoftOne answer into a dict; raise BodyNotJson when it is not one."""
    if not content:
        raise BodyNotJson("empty body")
    try:
        # ASCII is valid UTF-8 and identical in cp1253: hand the bytes to orjson directly.
        parsed = (
            orjson.loads(content) if content.isascii() else orjson.loads(decode_text(content, content_type))
        )
    except orjson.JSONDecodeError as exc:
        raise BodyNotJson(f"invalid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise BodyNotJson(f"JSON {type(parsed).__name__} instead of an object")
    return parsed


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Request bodies are UTF-8 JSON, which every known SoftOne server accepts."""
    return orjson.dumps(payload, default=_json_default)


def _json_default(value: Any) -> Any:
    # SoftOne accepts numeric strings everywhere a number is expected.
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot send a value of type {type(value).__name__} to SoftOne")


def get_ci(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``mapping[key]`` ignoring case: the exact spelling first (the common case), then a scan."""
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for name, value in mapping.items():
        if name.lower() == lowered:
            return value
    return default


def has_ci(mapping: Mapping[str, Any], key: str) -> bool:
    """Whether ``mapping`` has ``key`` in any letter case."""
    if key in mapping:
        return True
    lowered = key.lower()
    return any(name.lower() == lowered for name in mapping)


# ---------------------------------------------------------------------- the answer envelope


def check_envelope(service: str, answer: dict[str, Any], client_id: str | None) -> dict[str, Any]:
    """Return a successful answer; raise the typed error for ``success:false``."""
    success = get_ci(answer, "success")
    if success is True or (isinstance(success, str) and success.lower() == "true"):
        return answer
    if success is False or (isinstance(success, str) and success.lower() == "false"):
        message = get_ci(answer, "error") or get_ci(answer, "message") or get_ci(answer, "errormessage")
        text = str(message) if message else "SoftOne reported a failure without a message"
        if client_id:
            text = text.replace(client_id, "<clientID>")
        code = get_ci(answer, "errorcode")
        try:
            errorcode = int(code)
        except (TypeError, ValueError):
            raise SoftOneError(text, service=service) from None
        raise error_for(errorcode, text, service=service)
    raise ProtocolError(
        "the answer has no 'success' flag; is the URL a SoftOne /s1services endpoint?", service=service
    )


def required_str(answer: Mapping[str, Any], key: str, service: str) -> str:
    value = get_ci(answer, key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"the answer has no {key}", service=service)
    return value


def opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def list_of(answer: Mapping[str, Any], key: str, service: str) -> list[dict[str, Any]]:
    value = get_ci(answer, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"{key} is not a list", service=service)
    return value


def data_of(answer: Mapping[str, Any], service: str) -> dict[str, list[dict[str, str]]]:
    value = get_ci(answer, "data")
    if not isinstance(value, dict):
        raise ProtocolError("the answer has no data object", service=service)
    return value
