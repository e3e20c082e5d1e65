"""The dashboard's login session: an HMAC-signed cookie and a CSRF token bound to it.

The signing key is derived from ADMIN_TOKEN, so rotating the token logs every browser out. The
cookie carries no secret: only an issue time and a random session id; the CSRF token is an HMAC of
that id, so a forged form from another site cannot produce it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE_NAME = "softone_sync_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class DashboardSession:
    session_id: str
    issued_at: float


class SessionSigner:
    """Issues and verifies session cookies and CSRF tokens for one admin token."""

    def __init__(self, admin_token: str, *, max_age: float = SESSION_MAX_AGE_SECONDS) -> None:
        self._key = hashlib.sha256(b"softone-sync dashboard session\x00" + admin_token.encode()).digest()
        self._token_digest = hashlib.sha256(admin_token.encode()).digest()
        self.max_age = max_age

    def __repr__(self) -> str:
        return "SessionSigner(<key hidden>)"

    def token_matches(self, candidate: str) -> bool:
        # Comparing digests keeps the comparison constant-time even when lengths differ.
        return hmac.compare_digest(hashlib.sha256(candidate.encode()).digest(), self._token_digest)

    def issue(self, *, now: float | None = None) -> tuple[DashboardSession, str]:
        session = DashboardSession(session_id=secrets.token_urlsafe(18), issued_at=now or time.time())
        payload = json.dumps(
            {"sid": session.session_id, "iat": int(session.issued_at)}, separators=(",", ":")
        )
        body = _b64(payload.encode())
        return session, f"{body}.{self._sign(body)}"

    def verify(self, cookie: str | None, *, now: float | None = None) -> DashboardSession | None:
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = DashboardSession(session_id=str(data["sid"]), issued_at=float(data["iat"]))
        except (ValueError, KeyError, TypeError):
            return None
        age = (now or time.time()) - session.issued_at
        if age < -60 or age > self.max_age:
            return None
        return session

    def csrf_token(self, session: DashboardSession) -> str:
        return self._sign("csrf:" + session.session_id)

    def csrf_valid(self, session: DashboardSession, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(str(candidate), self.csrf_token(session))

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
