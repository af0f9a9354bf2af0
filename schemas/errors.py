"""The exception tree of riskwatch. Every error the project raises derives from one root.

    RiskwatchError
    ├── ConfigError            bad or missing configuration (file, key, value)
    ├── ReferenceDataError     region table or product catalogue unreadable
    ├── EventRejected          one event failed the contract; carries ``errors``
    ├── SinkError              a sink could not store a batch (carries the batch size)
    ├── BackendError           (sinks.base) a ClickHouse statement failed; ``retryable`` says if it may pass
    ├── MigrationError         (sinks.migrations) an applied migration was edited, or one failed
    └── ServerStartError       (sinks.local_server) a local test server did not come up

Per-event failures never escape a component: they become dead letters
(``EventRejected.errors`` is exactly what the dead letter stores).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = ["ConfigError", "EventRejected", "FieldError", "ReferenceDataError", "RiskwatchError", "SinkError"]

# The contract's error-code vocabulary (EVENTS.md §3).
CODES = (
    "json", "required", "type", "enum", "unknown_field", "format", "length", "range",
    "checksum", "unknown_region", "unknown_category", "consistency",
)


class FieldError(msgspec.Struct, frozen=True, array_like=False):
    """One broken rule: ``path`` (dotted, ``""`` for the whole line), ``code`` and a message
    that names the field, the rule and the (masked) bad value."""

    path: str
    code: str
    message: str


class RiskwatchError(Exception):
    """Root of every riskwatch exception."""


class ConfigError(RiskwatchError):
    """Configuration is invalid: ``key`` names the setting, ``reason`` the rule it breaks."""

    def __init__(self, key: str, reason: str) -> None:
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}")


class ReferenceDataError(RiskwatchError):
    """Reference data (regions, categories, dictionaries) could not be loaded from ``path``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


class EventRejected(RiskwatchError):
    """An event broke the contract; ``errors`` lists every broken rule found."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else FieldError("", "json", "rejected")
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first.code} at {first.path or '<line>'}: {first.message}{more}")


class SinkError(RiskwatchError):
    """A sink failed to store a batch of ``size`` rows; ``cause`` is the underlying error."""

    def __init__(self, sink: str, size: int, cause: BaseException) -> None:
        self.sink, self.size, self.cause = sink, size, cause
        super().__init__(f"{sink}: storing {size} rows failed: {cause}")
