"""Decoding SoftOne answers: charset choice, JSON checks, case-insensitive envelope keys."""

from __future__ import annotations

import pytest

from softone_sync.softone import BusinessError, DataNotFound, SessionExpired
from softone_sync.softone.codec import (
    BodyNotJson,
    charset_of,
    check_envelope,
    encode_body,
    get_ci,
    parse_body,
)


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        ("application/json; charset=windows-1253", "windows-1253"),
        ('application/json; Charset="UTF-8"', "utf-8"),
        ("application/json", None),
        (None, None),
    ],
)
def test_charset_of(header, charset):
    assert charset_of(header) == charset


def test_greek_cp1253_body_is_decoded():
    body = '{"success":true,"caption":"Πελάτες Ά €"}'.encode("cp1253")
    assert parse_body(body, "application/json; charset=windows-1253")["caption"] == "Πελάτες Ά €"


def test_utf8_body_with_utf8_header():
    body = '{"success":true,"caption":"Πελάτες"}'.encode()
    assert parse_body(body, "application/json; charset=utf-8")["caption"] == "Πελάτες"


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "empty body"), (b'{"success":true,"rows":[["a"', "invalid JSON"), (b"[1,2]", "JSON list")],
)
def test_not_json_objects_are_refused(body, reason):
    with pytest.raises(BodyNotJson, match=reason):
        parse_body(body, None)


def test_envelope_keys_ignore_case():
    answer = {"Success": True, "REQID": "7"}
    assert get_ci(answer, "reqID") == "7"
    assert get_ci(answer, "missing", "x") == "x"
    assert check_envelope("getBrowserInfo", answer, None) is answer


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-101, SessionExpired),
        (-1, SessionExpired),
        (0, BusinessError),
        (2001, DataNotFound),
        ("2001", DataNotFound),
    ],
)
def test_errorcodes_map_to_typed_errors(code, error):
    with pytest.raises(error):
        check_envelope("getData", {"success": False, "errorcode": code, "error": "x"}, None)


def test_request_body_is_utf8_json():
    from decimal import Decimal

    assert (
        encode_body({"NAME": "Αθήνα", "PRICE": Decimal("1.50")}) == '{"NAME":"Αθήνα","PRICE":"1.50"}'.encode()
    )
