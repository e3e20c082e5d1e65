"""The SoftOne side: an async Web Services client, its errors and value conversions."""

from __future__ import annotations

from .browser import BrowserInfo, BrowserPage
from .client import ConnectionSettings, SessionInfo, SetDataResult, SoftOneClient, SqlDataResult
from .convert import ConversionError
from .errors import (
    AccessDenied,
    AccountExpired,
    AuthenticateFailed,
    BadCredentials,
    BusinessError,
    DataNotFound,
    InternalServerError,
    InvalidAppId,
    InvalidRequest,
    LicenceError,
    OutcomeUnknown,
    ProtocolError,
    RequestExpired,
    SessionExpired,
    SoftOneError,
    TransportError,
    error_for,
)

__all__ = [
    "AccessDenied",
    "AccountExpired",
    "AuthenticateFailed",
    "BadCredentials",
    "BrowserInfo",
    "BrowserPage",
    "BusinessError",
    "ConnectionSettings",
    "ConversionError",
    "DataNotFound",
    "InternalServerError",
    "InvalidAppId",
    "InvalidRequest",
    "LicenceError",
    "OutcomeUnknown",
    "ProtocolError",
    "RequestExpired",
    "SessionExpired",
    "SessionInfo",
    "SetDataResult",
    "SoftOneClient",
    "SoftOneError",
    "SqlDataResult",
    "TransportError",
    "error_for",
]
