"""One run of one integration: config model, mapping, ERP source, target writers, the run itself.

The public API is re-exported lazily: the writer modules import ``softone_sync.sync.target``, so an
eager import of :mod:`softone_sync.sync.run` here would be circular.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "IntegrationConfig": "softone_sync.sync.config",
    "IntegrationConfigError": "softone_sync.sync.config",
    "parse_integration_config": "softone_sync.sync.config",
    "AlreadyRunning": "softone_sync.sync.run",
    "IntegrationNotFound": "softone_sync.sync.run",
    "ProgressEvent": "softone_sync.sync.run",
    "RunResult": "softone_sync.sync.run",
    "run_integration": "softone_sync.sync.run",
    "Check": "softone_sync.sync.doctor",
    "validate_integration": "softone_sync.sync.doctor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'softone_sync.sync' has no attribute {name!r}")
    return getattr(import_module(module), name)
