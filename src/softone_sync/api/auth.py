"""Who may call what: the CRON_SECRET for cron endpoints, the ADMIN_TOKEN for management, an IP allow-list.

Secrets are compared with :func:`hmac.compare_digest` on their UTF-8 bytes (constant time, and no
``TypeError`` on non-ASCII input). The cron secret is accepted as ``X-Cron-Secret`` or as
``Authorization: Bearer`` (what Vercel Cron sends). The client address for the allow-list is the
direct peer, unless that peer is a trusted proxy: only then is ``X-Forwarded-For`` believed,
walked from the right past every trusted hop, since anything further left is client-controlled.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Sequence
from enum import StrEnum

from fastapi import Depends
from pydantic import SecretStr
from starlette.requests import Request

from softone_sync.api.deps import ApiError, ServiceProvider, SyncService
from softone_sync.config import Settings

log = logging.getLogger("softone_sync.api.auth")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Caller(StrEnum):
    """Who a request was authenticated as."""

    ANONYMOUS = "anonymous"
    CRON = "cron"
    ADMIN = "admin"


def secrets_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def presented_cron_secret(request: Request) -> str | None:
    """The secret the caller sent: ``X-Cron-Secret`` first, else ``Authorization: Bearer``."""
    header = request.headers.get("x-cron-secret")
    if header is not None and header.strip():
        return header.strip()
    return bearer_token(request)


def _parse_ip(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[::1]:443" as some proxies write it
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "1.2.3.4:5678"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _in_any(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(request: Request, trusted_proxies: Sequence[IPNetwork]) -> IPAddress | None:
    """The caller's address, believing ``X-Forwarded-For`` only from a trusted proxy."""
    peer = _parse_ip(request.client.host) if request.client else None
    if peer is None or not _in_any(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    hops = [_parse_ip(part) for part in forwarded.split(",")]
    for hop in reversed(hops):
        if hop is None:
            return None  # a garbled hop: refuse to guess who the client is
        if not _in_any(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def check_allowed_ip(request: Request, settings: Settings) -> None:
    """403 unless the caller is inside ``CRON_ALLOWED_IPS`` (when that is set)."""
    if not settings.cron_allowed_ips:
        return
    ip = client_ip(request, settings.trusted_proxies)
    if ip is None or not _in_any(ip, settings.cron_allowed_ips):
        log.warning("[CRON] refused caller %s: not in CRON_ALLOWED_IPS", ip, extra={"action": "ip_refused"})
        raise ApiError(403, "forbidden", "this address is not in CRON_ALLOWED_IPS")


def _configured(secret: SecretStr | None) -> str | None:
    if secret is None:
        return None
    value = secret.get_secret_value()
    return value or None


CRON_SECRET_UNSET = (
    "CRON_SECRET is not set on the server; set the CRON_SECRET environment variable "
    "(e.g. `openssl rand -hex 32`) and send it as X-Cron-Secret or Authorization: Bearer"
)


def verify_cron_secret(request: Request, settings: Settings, *, required: bool) -> bool:
    """Check the cron secret; returns whether a valid one was presented.

    Missing and ``required`` → 401; presented but wrong → 401 (even where optional, so a typo in a
    cron job is loud); needed but ``CRON_SECRET`` unset → 503 saying what to set.
    """
    check_allowed_ip(request, settings)
    given = presented_cron_secret(request)
    expected = _configured(settings.cron_secret)
    if given is None:
        if not required:
            return False
        if expected is None:
            raise ApiError(503, "cron-secret-not-configured", CRON_SECRET_UNSET)
        raise ApiError(
            401,
            "unauthorized",
            "missing cron secret: send X-Cron-Secret or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if expected is None:
        raise ApiError(503, "cron-secret-not-configured", CRON_SECRET_UNSET)
    if not secrets_equal(given, expected):
        log.warning("[CRON] wrong cron secret presented", extra={"action": "auth_failed"})
        raise ApiError(401, "unauthorized", "invalid cron secret", headers={"WWW-Authenticate": "Bearer"})
    return True


ADMIN_TOKEN_UNSET = (
    "ADMIN_TOKEN is not set on the server; set the ADMIN_TOKEN environment variable "
    "and send it as Authorization: Bearer"
)


def is_admin(request: Request, settings: Settings) -> bool:
    expected = _configured(settings.admin_token)
    given = bearer_token(request)
    return expected is not None and given is not None and secrets_equal(given, expected)


def verify_admin(request: Request, settings: Settings) -> None:
    expected = _configured(settings.admin_token)
    if expected is None:
        raise ApiError(503, "admin-token-not-configured", ADMIN_TOKEN_UNSET)
    given = bearer_token(request)
    if given is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing admin token: send Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets_equal(given, expected):
        log.warning("wrong admin token presented", extra={"action": "auth_failed"})
        raise ApiError(401, "unauthorized", "invalid admin token", headers={"WWW-Authenticate": "Bearer"})


def verify_admin_or_cron(request: Request, settings: Settings) -> Caller:
    """Run status is read by operators (admin token) and by the cron caller that got a 202 (secret)."""
    if is_admin(request, settings):
        return Caller.ADMIN
    given = presented_cron_secret(request)
    expected = _configured(settings.cron_secret)
    if given is not None and expected is not None and secrets_equal(given, expected):
        check_allowed_ip(request, settings)
        return Caller.CRON
    if _configured(settings.admin_token) is None and _configured(settings.cron_secret) is None:
        raise ApiError(503, "admin-token-not-configured", ADMIN_TOKEN_UNSET)
    raise ApiError(
        401,
        "unauthorized",
        "send Authorization: Bearer <ADMIN_TOKEN>, or the cron secret",
        headers={"WWW-Authenticate": "Bearer"},
    )


def admin_dependency(get_service: ServiceProvider) -> Callable[..., SyncService]:
    """A FastAPI dependency: verifies the admin token, then yields the service."""

    def admin(request: Request, svc: SyncService = Depends(get_service)) -> SyncService:
        verify_admin(request, svc.settings)
        return svc

    return admin
