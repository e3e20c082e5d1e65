"""Log setup: plain text or JSON lines, with every known secret masked.

Callers prefix their own lines (``[CRON] ``, ``[SYNC] ``) and pass structured context through
``extra={"action": ..., "integration_id": ..., "run_id": ..., "slot": ...}``; the JSON format
emits those as fields so log pipelines can filter on them.

Redaction works on values, not on key names: the configured ``CRON_SECRET``, ``ADMIN_TOKEN`` and
``SECRET_KEY``, the database password, plus anything registered at runtime (:func:`register_secret` —
ERP passwords, the webhook URL) are replaced by ``***`` wherever they appear: message, arguments, extras and
tracebacks. Masking happens in layers on purpose: a record factory masks message and traceback as
each record is born (so every handler, ours or not, sees clean records), the handler's filter masks
the ``extra`` context fields (attached after the factory runs), and our formatters mask their final
output as the last line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import SecretStr

from softone_sync.config import Settings

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
CONTEXT_FIELDS = ("action", "integration_id", "run_id", "slot")

# Values shorter than this are not masked: masking "1" or "on" everywhere would destroy every log
# line while protecting nothing (such a value is not a secret worth the name).
MIN_SECRET_LENGTH = 4


class _SecretRegistry:
    """The set of values to mask, with one compiled pattern rebuilt on change (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


_secrets = _SecretRegistry()


def register_secret(value: str | SecretStr | None) -> None:
    """Mask ``value`` in every log line from now on (e.g. an ERP password or a webhook URL)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value:
        _secrets.add(value)


def clear_registered_secrets() -> None:
    """Forget every registered secret (tests, or a process that reloads its settings)."""
    _secrets.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return _secrets.mask(text)


def _redact_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what logging itself would show, masked
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message)
    record.args = None


class RedactionFilter(logging.Filter):
    """Rewrites the record's message (arguments merged in) and string extras with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_message(record)
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if isinstance(value, str):
                setattr(record, field, redact(value))
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the context fields present, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class _RedactingRecordFactory:
    """Masks secrets as each record is created, so *every* handler sees clean records — pytest's,
    Sentry's, the host application's — not only the one :func:`setup_logging` installs.

    The traceback is rendered (and masked) up front because exception messages often quote the
    offending value; standard formatters reuse ``exc_text`` when it is set. Extras are attached after
    the factory runs, which is why the handler filter and the formatters mask again.
    """

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if _secrets.active:
            _redact_message(record)
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(_EXCEPTION_FORMATTER.formatException(record.exc_info))
        return record


_EXCEPTION_FORMATTER = logging.Formatter()


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingRecordFactory):
        logging.setLogRecordFactory(_RedactingRecordFactory(current))


class _OurHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler installed by :func:`setup_logging` so a second call replaces it."""


def _database_password(url: str) -> str | None:
    """The password inside DATABASE_URL: driver errors and tracebacks may quote the DSN."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except ArgumentError:
        return None


def setup_logging(settings: Settings, *, stream: IO[str] | None = None) -> logging.Handler:
    """Install one handler on the root logger (level, format and redaction from ``settings``).

    Idempotent: calling it again replaces the handler it installed and leaves any other handler
    (the host application's, when embedded) alone. Returns the handler.
    """
    for secret in (
        settings.cron_secret,
        settings.admin_token,
        settings.secret_key,
        settings.notify_webhook_url,
    ):
        register_secret(secret)
    register_secret(_database_password(settings.database_url))
    _install_record_factory()

    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(RedactionFilter())

    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _OurHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Libraries' chatter (one INFO line per ERP request from httpx, Alembic's context lines) would
    # drown the [CRON]/[SYNC] lines operators grep for; they still speak at WARNING and above, and
    # at LOG_LEVEL=DEBUG everything shows.
    if settings.log_level != "DEBUG":
        for noisy in ("httpx", "httpcore", "alembic.runtime.migration", "procrastinate"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
