"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with the HTTP status a
client expects, so the ``openai`` client raises the right exception class (BadRequestError,
NotFoundError, ...) with our one-line message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localctx.errors import (
    ContextOverflowError,
    GGUFError,
    InsufficientMemoryError,
    LocalctxError,
    ModelNotFoundError,
    SettingsError,
)


@dataclass
class ApiError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def from_localctx(exc: BaseException) -> ApiError:
    """The HTTP answer for an error raised below the front end."""
    from localctx.services.serving import QueueFull

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFull):
        return ApiError(503, exc.one_line(), "server_error", None, "queue_full",
                        {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, exc.one_line(), "invalid_request_error", "messages", "context_length_exceeded")
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, exc.one_line(), "invalid_request_error", "model", "model_not_found")
    if isinstance(exc, InsufficientMemoryError):
        return ApiError(400, exc.one_line(), "invalid_request_error", "model", "model_does_not_fit")
    if isinstance(exc, (GGUFError, SettingsError)):
        return ApiError(400, exc.one_line(), "invalid_request_error", None, "invalid_value")
    if isinstance(exc, LocalctxError):
        return ApiError(500, exc.one_line(), "server_error", None, "server_error")
    return ApiError(500, f"internal error: {exc.__class__.__name__}: {exc}", "server_error", None, "server_error")
