"""The one error base class: it carries its HTTP status and a message a person can act on."""

from __future__ import annotations

from collections.abc import Iterable

from referral_directory.records import Problem


class TsunaguError(Exception):
    status_code = 400

    def __init__(self, message: str, *, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def body(self) -> dict:
        """Return the JSON error body: FastAPI's `detail` shape, so clients read one format."""
        if not self.problems:
            return {"detail": self.message}
        return {
            "detail": [
                {
                    "loc": ["body", *p.field.replace("]", "").replace("[", ".").split(".")],
                    "msg": p.message,
                    "type": "directory",
                    "where": p.where,
                }
                for p in self.problems
            ],
            "message": self.message,
        }


class NotFound(TsunaguError):
    status_code = 404


class Forbidden(TsunaguError):
    status_code = 403


class Unauthorized(TsunaguError):
    status_code = 401


class Conflict(TsunaguError):
    status_code = 409


class Invalid(TsunaguError):
    status_code = 422


class UpstreamFailed(TsunaguError):
    """A service we depend on (Twilio's REST API) did not do what was asked."""

    status_code = 502
