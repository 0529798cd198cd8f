"""Putting the modules' routers into an app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routers' routes to the app as they are, built once per process.

    This is what `app.include_router(router)` does for a router included without a prefix, tags,
    dependencies or responses, as all of tsunagu's are, but for one cost: FastAPI (0.165) builds an
    included router's routes again for each app (every parameter's pydantic adapter, every
    dependency), lazily, on the app's first request, for every router ahead of the one that matches.
    That was about 150 ms of the first staff request each worker answered, and most of the time of
    each test that builds an app (the suite builds some two thousand). These routes were built once,
    when their module was imported, and every app shares them.

    What the app itself would have passed down to included routes does not reach these: FastAPI-level
    `dependencies=` and `app.dependency_overrides` (tsunagu uses neither; put a dependency on the
    router, or use include_router for a router that needs them).
    """
    for router in routers:
        app.router.routes.extend(router.routes)
