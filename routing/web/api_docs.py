"""The API's description, /openapi.json, and its page, /docs: Swagger UI served by tsunagu itself.

Swagger UI's files come from the `swagger-ui-bundle-v2` package (swagger-ui's own dist files,
Apache-2.0), never from a CDN, and the page starts it from a file of ours rather than an inline
script, so the page carries the same security headers as every staff page: its Content-Security-
Policy lets in nothing but this server. `TSUNAGU_API_DOCS` says who may read the description:
anyone (`public`), staff signed in or holding an API token (`staff`), or nobody (`off`: 404).
There is no ReDoc page and no OAuth2 redirect page: the API takes bearer tokens, which Swagger
UI's Authorize button holds for as long as the tab is open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from swagger_ui_bundle import swagger_ui_path

from referral_directory.deps import HostDep, current_staff
from referral_directory.errors import Unauthorized
from routing.settings import Settings
from routing.web.pages import SECURITY_HEADERS, see_other

STATIC = Path(__file__).parent / "static"
ASSETS = "/docs/assets"
_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# The only files served under ASSETS: the bundle's other files (its demo index.html, the OAuth2 redirect page) stay unserved.
FILES: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (Path(str(swagger_ui_path)) / "swagger-ui-bundle.js", _JS),
    "swagger-ui.css": (Path(str(swagger_ui_path)) / "swagger-ui.css", _CSS),
    "api-docs.js": (STATIC / "api-docs.js", _JS),
}
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsunagu API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/api-docs.js"></script>
</body>
</html>
"""
_bearer = HTTPBearer(auto_error=False)


async def _is_staff(request: Request, host: HostDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> bool:
    """Whether the request comes from staff: a valid API token, or a signed-in session."""
    try:
        await current_staff(request, host, credentials)
    except Unauthorized:
        return False
    return True


IsStaff = Annotated[bool, Depends(_is_staff)]


def install(app: FastAPI, settings: Settings) -> None:
    """Serve /openapi.json, /docs and its files as TSUNAGU_API_DOCS says (nothing at all when `off`)."""
    if settings.api_docs == "off":
        return
    staff_only = settings.api_docs == "staff"
    app.add_api_route("/openapi.json", staff_description if staff_only else description, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", staff_page if staff_only else page, methods=["GET"], include_in_schema=False)
    app.add_api_route(ASSETS + "/{name}", asset, methods=["GET"], include_in_schema=False)


async def description(request: Request) -> Response:
    """The OpenAPI description of the whole service, Twilio's webhooks included."""
    return JSONResponse(request.app.openapi(), headers=SECURITY_HEADERS)


async def staff_description(request: Request, staff: IsStaff) -> Response:
    if not staff:
        raise Unauthorized("the API description is for staff: send `Authorization: Bearer TOKEN`, or sign in at /login")
    return await description(request)


async def page() -> Response:
    """Swagger UI, reading /openapi.json."""
    return HTMLResponse(PAGE, headers=SECURITY_HEADERS)


async def staff_page(staff: IsStaff) -> Response:
    return await page() if staff else see_other("/login")


async def asset(name: str) -> Response:
    """One of Swagger UI's files, or our starter script (swagger-ui's own code: nothing here needs a sign-in)."""
    if name not in FILES:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    path, media_type = FILES[name]
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)
