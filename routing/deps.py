"""The FastAPI dependencies of routing's endpoints: the running service (RuntimeDep), and, from the directory's
own, a transaction (SessionDep) and the staff member (CurrentStaff).

Endpoints and pages take these as parameters; none reads `app.state` or opens a transaction itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from referral_directory.deps import CurrentStaff, SessionDep
from routing.chats.hub import ChatHub
from routing.runtime import Runtime

__all__ = ["CurrentStaff", "HubDep", "RuntimeDep", "SessionDep", "hub_of", "runtime_of"]


def runtime_of(request: Request) -> Runtime:
    """Return the running service behind a request (the one place that reads it off the app)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:  # async: FastAPI runs a plain `def` dependency on its thread pool
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def hub_of(request: Request) -> ChatHub:
    """Return the chat channel's parts behind a request (queues, LINE's client, the word lists)."""
    hub: ChatHub = request.app.state.chats
    return hub


async def _hub(request: Request) -> ChatHub:
    return hub_of(request)


HubDep = Annotated[ChatHub, Depends(_hub)]
