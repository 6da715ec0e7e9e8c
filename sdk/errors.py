"""Typed exceptions for every error class the settings API answers with."""

from __future__ import annotations

from typing import Any

from sdk.models import FieldError


class SettingsAPIError(Exception):
    """Any error answer of the settings API; the subclasses name the ones a caller handles."""

    def __init__(
        self, status_code: int, detail: Any, etag: str | None = None, body: Any = None
    ) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.etag = etag
        self.body = body
        """The whole JSON answer (an import's refusal carries its lines here)."""


class NotModified(SettingsAPIError):
    """304: the representation still matches If-None-Match; `etag` is the current one."""


class BadRequest(SettingsAPIError):
    """400: the request is malformed; `detail` says what to fix."""


class Unauthorized(SettingsAPIError):
    """401: missing or wrong session API key."""


class Forbidden(SettingsAPIError):
    """403: the server or registry is managed by the administrator's configuration."""


class NotFound(SettingsAPIError):
    """404: no such server, registry or connector."""


class Conflict(SettingsAPIError):
    """409: a conflict the detail names (the agent kind, a disabled registry, servers an
    import met, ...)."""


class PreconditionFailed(SettingsAPIError):
    """412: the server changed since it was read; `etag` is its current ETag (None if absent)."""


class ValidationFailed(SettingsAPIError):
    """422: invalid fields; `errors` lists each one."""

    @property
    def errors(self) -> list[FieldError]:
        if isinstance(self.detail, list):
            return [FieldError.model_validate(e) for e in self.detail]
        return []


class PreconditionRequired(SettingsAPIError):
    """428: the server requires If-Match or If-None-Match on writes."""


class RegistryUnavailable(SettingsAPIError):
    """502: a registry failed (an error answer, or one that is not its API); `detail` names it."""


class RegistryTimeout(SettingsAPIError):
    """504: a registry did not answer within the server's --registry-timeout."""


ERRORS_BY_STATUS: dict[int, type[SettingsAPIError]] = {
    304: NotModified,
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationFailed,
    428: PreconditionRequired,
    502: RegistryUnavailable,
    504: RegistryTimeout,
}
