"""SoftOne errors as a small typed hierarchy keyed on ``errorcode``.

SoftOne answers application errors inside HTTP 200 as ``{"success": false, "errorcode": n,
"error": "..."}``; the message text varies between versions, so we key on the code only. Each
class says whether a re-login can help (``relogin``) and what the operator should check (``hint``).
"""

from __future__ import annotations


class SoftOneError(Exception):
    """Base of every error the client raises."""

    hint = ""
    relogin = False

    def __init__(self, message: str, *, errorcode: int | None = None, service: str | None = None) -> None:
        self.message = message
        self.errorcode = errorcode
        self.service = service
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.service:
            parts.append(f"{self.service}:")
        parts.append(self.message)
        if self.errorcode is not None:
            parts.append(f"(errorcode {self.errorcode})")
        if self.hint:
            parts.append(f"— {self.hint}")
        return " ".join(parts)


class TransportError(SoftOneError):
    """Network failure, timeout, non-2xx status, or a body that is not the JSON SoftOne sends."""

    hint = "check that the connection's URL is reachable and the S1 service/agent is running"


class OutcomeUnknown(TransportError):
    """A non-idempotent call (a setData insert) failed after it may have reached the server.

    It is not retried automatically because a retry could create a duplicate record; look the
    record up (e.g. by its code) before sending it again.
    """

    hint = "the record may or may not have been created; look it up before retrying"


class ProtocolError(SoftOneError):
    """A well-formed answer that lacks what the protocol promises (e.g. no clientID after login)."""


class BadCredentials(SoftOneError):
    hint = "check the connection's username and password"


class AuthenticateFailed(SoftOneError):
    hint = "check the connection's COMPANY, BRANCH, MODULE and REFID"


class SessionExpired(SoftOneError):
    """The clientID is no longer valid; a fresh login fixes it."""

    relogin = True
    hint = "the client logs in again automatically"


class AccountExpired(SoftOneError):
    hint = "the web account's FinalDate has passed or it is inactive; ask the S1 administrator"


class InvalidAppId(SoftOneError):
    hint = "check the connection's appId: it must be the same on login and on every call"


class AccessDenied(SoftOneError):
    hint = "the web account lacks rights or the module/appId is not activated"


class LicenceError(SoftOneError):
    hint = "SoftOne licence limit (web service licences or devices); retry later or free a licence"


class InvalidRequest(SoftOneError):
    hint = "the request was malformed or the service name is unknown"


class BusinessError(SoftOneError):
    """errorcode 0 and other validation failures raised by the ERP's business logic."""


class DataNotFound(SoftOneError):
    hint = "the record KEY does not exist"


class RequestExpired(SoftOneError):
    """A browser/report reqID expired or is unknown: run getBrowserInfo again."""


class InternalServerError(SoftOneError):
    hint = "SoftOne reported an internal error; read the message"


_BY_CODE: dict[int, type[SoftOneError]] = {
    -101: SessionExpired,
    -100: SessionExpired,
    -12: InvalidRequest,
    -11: LicenceError,
    -10: BadCredentials,
    -9: InvalidRequest,
    -8: AccountExpired,
    -7: AccountExpired,
    -6: InvalidAppId,
    -5: LicenceError,
    -4: LicenceError,
    -3: AccessDenied,
    -2: AuthenticateFailed,
    -1: SessionExpired,  # outside login; during login the client maps -1 to BadCredentials
    0: BusinessError,
    11: InternalServerError,
    20: InternalServerError,
    99: InternalServerError,
    12: InvalidRequest,
    13: RequestExpired,
    213: RequestExpired,
    14: InvalidRequest,
    101: AccessDenied,
    102: RequestExpired,
    112: InvalidRequest,
    1001: BadCredentials,
    1010: AccessDenied,
    2001: DataNotFound,
}


def error_for(errorcode: int, message: str, *, service: str | None = None) -> SoftOneError:
    """The typed error for a SoftOne ``errorcode``; -1 during ``login`` means bad credentials."""
    if service is not None and service.lower() == "login" and errorcode == -1:
        return BadCredentials(message, errorcode=errorcode, service=service)
    cls = _BY_CODE.get(errorcode, BusinessError if errorcode >= 0 else SoftOneError)
    return cls(message, errorcode=errorcode, service=service)
