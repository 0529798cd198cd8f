"""The one error base class: it carries its HTTP status and a message a person can act on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class BadRequest(TsunaguError):
    """A request that says something this API cannot read (a header in the wrong form)."""

    status_code = 400


class NotFound(TsunaguError):
    status_code = 404


class Forbidden(TsunaguError):
    status_code = 403


class Unauthorized(TsunaguError):
    status_code = 401


class Conflict(TsunaguError):
    status_code = 409


class PreconditionFailed(TsunaguError):
    """The thing changed since the caller read it (their If-Match no longer matches): nothing was stored."""

    status_code = 412


class Invalid(TsunaguError):
    status_code = 422


class TooMany(TsunaguError):
    """More requests than a rate limit allows; the message says when to try again."""

    status_code = 429


class UpstreamFailed(TsunaguError):
    """A service we depend on (Twilio's REST API) did not do what was asked."""

    status_code = 502


class ProblemOut(BaseModel):
    """One problem with a request: where (`loc`), what (`msg`), and its kind."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer of the staff APIs: a message, or the list of problems (then `message` sums them up)."""

    detail: str | list[ProblemOut] = Field(description="what went wrong: a sentence, or every problem found")
    message: str | None = Field(default=None, description="with a list of problems: the sentence that sums them up")


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# The error answers every staff API may give, documented once for all of their routers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("the request cannot be carried out as it is"),
    401: _documented("no valid API token and no signed-in session"),
    403: _documented("the staff member may not do this (the reason is given)"),
    404: _documented("no such thing, or none the staff member may see"),
    409: _documented("it conflicts with how things stand now (the reason is given)"),
    412: _documented("If-Match names a version of the service that is no longer the current one: read it again"),
    413: _documented("the request body is larger than the APIs take"),
    422: _documented("the request is not valid: every problem, each where it is"),
}
