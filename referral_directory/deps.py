"""The FastAPI dependencies every API uses: the running host (HostDep), a transaction (SessionDep), and the
staff member behind a token or a sign-in (CurrentStaff).

Endpoints take these as parameters; none reads `app.state` or opens a transaction itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from referral_directory.errors import Unauthorized
from referral_directory.regions import Regions
from referral_directory.staff.accounts import Staff
from referral_directory.staff.token_cache import TokenCache
from referral_directory.storage import db


class DirectoryHost(Protocol):
    """What the directory API needs from the running service (routing's Runtime provides it)."""

    sessions: async_sessionmaker[AsyncSession]
    regions: Regions
    holidays: Any
    tokens: TokenCache

    async def directory_changed(self, version: int) -> None: ...


async def get_host(request: Request) -> DirectoryHost:
    """Return the running service's host object (async: FastAPI runs a plain `def` dependency on its thread pool)."""
    return request.app.state.runtime


HostDep = Annotated[DirectoryHost, Depends(get_host)]


async def transaction(host: HostDep) -> AsyncIterator[AsyncSession]:
    """Yield a session in a transaction that commits when the endpoint returns and rolls back when it raises.

    Scoped to the endpoint function, so the commit happens before the response is sent: a client
    that is told 201 can rely on the row being there.
    """
    async with db.transaction(host.sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(transaction, scope="function")]
_CHANGED_VERSION = "tsunagu.directory_version"


def announce(session: AsyncSession, version: int) -> None:
    """Have the directory's new version announced to every worker once this session's transaction commits."""
    session.info[_CHANGED_VERSION] = version


async def directory_change(host: HostDep) -> AsyncIterator[AsyncSession]:
    """Yield a session for a change to the directory: it commits when the endpoint returns, and then (only then)
    every worker is told the directory's new version, so the routing snapshot is rebuilt from committed rows."""
    async with db.transaction(host.sessions) as session:
        yield session
    version = session.info.pop(_CHANGED_VERSION, None)
    if version is not None:
        await host.directory_changed(version)


ChangeDep = Annotated[AsyncSession, Depends(directory_change, scope="function")]
_bearer = HTTPBearer(auto_error=False, description="A staff API token from `tsunagu users add`")


SessionStaff = Callable[[Request], Awaitable[Staff | None]]
"""The staff member a web sign-in (session cookie) vouches for, or None; it raises Forbidden for a
change without its CSRF token. The running service puts one on `app.state.session_staff`
(routing.web); without one, only bearer tokens are accepted."""


async def current_staff(
    request: Request, host: HostDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Staff:
    """Return the staff member whose bearer token came with the request, else the one signed in by cookie (401 otherwise)."""
    if credentials is None:
        session_staff: SessionStaff | None = getattr(request.app.state, "session_staff", None)
        staff = await session_staff(request) if session_staff is not None else None
        if staff is not None:
            return staff
        raise Unauthorized("this needs a staff API token: send `Authorization: Bearer TOKEN` (tokens come from `tsunagu users add`)")
    staff = await host.tokens.staff(host.sessions, credentials.credentials)
    if staff is None:
        raise Unauthorized("this API token is not valid (unknown or disabled); ask an operator for a new one")
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]
