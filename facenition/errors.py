"""The application's errors: a failure the caller can act on, with the HTTP status its answer carries.

Services raise these; `facenition.api.errors.exception_handler` turns each into the error envelope.
They live in the project core so that services never import the API package.
"""


class ApplicationError(Exception):
    """A failure the caller can act on. `status` is the HTTP status of the answer."""

    status = 400

    def __init__(self, message: str, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(ApplicationError):
    status = 400


class Unauthorized(ApplicationError):
    status = 401


class Forbidden(ApplicationError):
    status = 403


class NotFound(ApplicationError):
    status = 404


class Conflict(ApplicationError):
    status = 409


class Gone(ApplicationError):
    status = 410


class TooManyRequests(ApplicationError):
    status = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(int(retry_after))} if retry_after else None
        super().__init__(message, headers=headers)


class UpstreamFailure(ApplicationError):
    status = 502


def human_size(n: int) -> str:
    """A byte count as error messages state limits: "10 MB", or "512 KB" below a megabyte."""
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
