"""clientIDs: temporary ones from ``login``, final ones from ``authenticate`` (or one-step login).

A final session expires after a configured time or number of calls and then answers -101 until
the client logs in again; an unknown clientID answers -1. Expired sessions are remembered (up to a
bound) so that the client sees -101 rather than -1, as a real server would report it.
"""

from __future__ import annotations

import base64
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from softone_sync.softone.simulator.protocol import (
    MSG_INVALID_APPID,
    MSG_LOGIN_FIRST,
    MSG_SESSION_EXPIRED,
    ServiceError,
)

_MAX_SESSIONS = 10_000


@dataclass
class Session:
    app_id: str
    final: bool
    created: float
    calls: int = 0
    expired: bool = False


def new_client_id() -> str:
    """Opaque base64 like S1's; its '+' appear percent-encoded (``%2b``) as in the official sample."""
    raw = base64.b64encode(os.urandom(72)).decode("ascii").rstrip("=")
    return raw.replace("+", "%2b")


class SessionStore:
    def __init__(self, *, ttl_seconds: float | None, max_calls: int | None) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_calls = max_calls
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, app_id: str, *, final: bool) -> str:
        client_id = new_client_id()
        self._sessions[client_id] = Session(app_id=app_id, final=final, created=time.monotonic())
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return client_id

    def temporary(self, client_id: str) -> Session:
        """The temporary session ``authenticate`` exchanges (-1 if there is none)."""
        session = self._sessions.get(client_id)
        if session is None or session.final:
            raise ServiceError(-1, MSG_LOGIN_FIRST)
        return session

    def discard(self, client_id: str) -> None:
        self._sessions.pop(client_id, None)

    def use(self, client_id: str, app_id: str) -> Session:
        """Validate a data call's clientID/appId and count the call against the session's budget."""
        if not client_id:
            raise ServiceError(-1, MSG_LOGIN_FIRST)
        session = self._sessions.get(client_id)
        if session is None or not session.final:
            raise ServiceError(-1, MSG_LOGIN_FIRST)
        if self._is_expired(session):
            session.expired = True
            raise ServiceError(-101, MSG_SESSION_EXPIRED)
        if app_id != session.app_id:
            raise ServiceError(-6, MSG_INVALID_APPID)
        session.calls += 1
        return session

    def _is_expired(self, session: Session) -> bool:
        if session.expired:
            return True
        if self.ttl_seconds is not None and time.monotonic() - session.created >= self.ttl_seconds:
            return True
        return self.max_calls is not None and session.calls >= self.max_calls

    def expire(self, client_id: str) -> bool:
        session = self._sessions.get(client_id)
        if session is None:
            return False
        session.expired = True
        return True

    def expire_all(self) -> int:
        count = 0
        for session in self._sessions.values():
            if session.final and not session.expired:
                session.expired = True
                count += 1
        return count

    def active_count(self) -> int:
        return sum(1 for s in self._sessions.values() if s.final and not self._is_expired(s))

    def clear(self) -> None:
        self._sessions.clear()
