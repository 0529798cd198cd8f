"""Staff web pages: sign-in with passwords, server-side sessions in Redis, CSRF, the dashboard (live over an event stream), the case pages,
the coordinator's directory pages (with bulk changes and file import and export), the routing preview page, the
coverage-gap map and the statistics page.

`install(app)` adds the pages and their static files, and lets `CurrentStaff` (the API's staff
dependency) accept a signed-in session as well as a bearer token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from routing.routes import add_routes
from routing.web import (
    case_pages,
    coverage_pages,
    dashboard_live,
    directory_bulk,
    directory_import,
    directory_pages,
    routing_pages,
    statistics_pages,
)
from routing.web.auth import session_staff
from routing.web.pages import router

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the staff pages to an app, and the session cookie as a way in for CurrentStaff."""
    add_routes(
        app,
        router,
        case_pages.router,
        dashboard_live.router,
        directory_pages.router,
        directory_bulk.router,
        directory_import.router,
        routing_pages.router,
        coverage_pages.router,
        statistics_pages.router,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.session_staff = session_staff
