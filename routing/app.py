"""The FastAPI application: create_app() builds it; the lifespan opens and closes the runtime."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from referral_directory import api as directory_api
from referral_directory.errors import TsunaguError
from referral_directory.regions import Regions
from referral_directory.storage import db
from routing import migrations, preview, request_limits, web
from routing.cases import api as cases_api
from routing.chats import api as chats_api
from routing.chats import pages as chat_pages
from routing.chats import web_chat
from routing.chats.hub import open_hub
from routing.chats.line.inbox import Drainer
from routing.chats.line.webhook import LineWebhook
from routing.chats.line.webhook import openapi_paths as line_paths
from routing.deps import RuntimeDep
from routing.jobs import background_loops, start_loops
from routing.logs import configure_logging
from routing.metrics import CONTENT_TYPE, check_scraper
from routing.privacy import audit_api, keyring
from routing.routes import add_routes
from routing.runtime import Runtime, open_runtime
from routing.settings import Settings
from routing.statistics import api as stats_api
from routing.telephony import callback_webhooks, case_webhooks, record_log, webhooks  # noqa: F401  (importing registers the webhooks)
from routing.telephony.callbacks import twilio_client
from routing.telephony.endpoint import TwilioWebhooks, openapi_paths
from routing.web import api_docs
from routing.web.pages import too_large_page

log = structlog.get_logger("tsunagu.http")
# How long the event loop may keep the GIL while another thread of the worker waits for it (Python's
# default is 5 ms). The loop hands SQLite's reads, and each transaction's first write, to aiosqlite's
# thread and takes the answer back; on a busy worker each handover can wait the whole interval
# (measured before referral_directory/storage/sqlite_connection.py, May surge drill on SQLite, p99 of
# /answered: 120 ms in a run with 5 ms, 73-110 ms in three with 1 ms). Threads doing long work
# (the snapshot build, argon2) also let the loop in sooner.
SWITCH_INTERVAL_SECONDS = 0.001
READY_CHECK_SECONDS = 2.0  # /readyz reports a part down when it has not answered by then (probes wait a few seconds)
T = TypeVar("T")
# /readyz says the call records are behind past these (the drainer stuck, or the database too slow for the calls ending)
RECORDS_STUCK_SECONDS = 30.0
RECORDS_LARGE_BACKLOG = 10_000


def create_app(settings: Settings | None = None, *, regions: Regions | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts."""
    if settings is None:  # from the environment, as uvicorn's workers build it: the refusal `tsunagu serve` makes first
        settings = Settings()
        if reason := settings.insecure_secret():
            raise SystemExit(f"tsunagu: {reason}")
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        role = settings.role
        # `all` migrates at every start (one command); `web` and `jobs` refuse a schema older than the code (SchemaBehind).
        # A `web` process leaves its SQLite log to the one that runs the checkpoint loop, or to its own commits.
        runtime = await open_runtime(
            settings, regions=regions, demo=settings.load_demo_directory, serving=role != "web", migrate=role == "all"
        )
        app.state.runtime = runtime
        app.state.chats = hub = open_hub(settings, runtime.live, runtime.switchboard.lease_ms, runtime.sessions)
        if role != "jobs":
            # The webhook hands its people to its own worker's drainer, in memory, right after it answered LINE:
            # drainers live where the webhook does. The chat keeper (a job) drains whatever a worker left behind.
            hub.drainer = Drainer(runtime, hub)
            hub.drainer.start()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        if settings.freeze_gc:
            gc.freeze()  # the regions and the snapshot live for the whole run: keep them out of every collection
        twilio = twilio_client(settings) if settings.twilio_account_sid else None
        _check_keyring(runtime.keys)
        if role != "web":
            start_loops(runtime, background_loops(runtime, twilio, hub))
        if not settings.verify_twilio_signatures:
            log.warning("twilio_signatures_not_checked", reason="TSUNAGU_VERIFY_TWILIO_SIGNATURES=false: local development only")
        if not (settings.twilio_auth_token.get_secret_value() or settings.twilio_account_sid):
            log.info("twilio_development_token", reason="no Twilio account: webhooks are signed with the var dir's development token")
        log.info("started", role=role, database=settings.sqlalchemy_url.split(":", 1)[0], embedded_redis=not settings.redis_url)
        try:
            yield
        finally:
            await hub.close()
            await runtime.close()

    app = FastAPI(
        title="tsunagu",
        summary="Routing and referral for the national loneliness and isolation consultation dial (孤独・孤立相談ダイヤル)",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /openapi.json: _install_docs_and_metrics, as TSUNAGU_API_DOCS says
        redoc_url=None,
        openapi_url=None,
    )
    if settings.role == "jobs":  # the periodic work only: health for the orchestrator, nothing a caller or staff reaches
        app.add_middleware(RequestContext)
        _install_health(app)
        return app
    # innermost: bounded bodies (a page form too large gets a page) and brief 422s for everything but the webhooks, which bound their own
    request_limits.install(app, form_refusal=too_large_page)
    app.add_middleware(TwilioWebhooks)  # inside RequestContext: webhooks get request ids and log lines too
    app.add_middleware(LineWebhook)
    app.add_middleware(RequestContext)
    app.add_exception_handler(TsunaguError, _tsunagu_error)  # type: ignore[arg-type]  # Starlette types handlers for any Exception
    add_routes(app, directory_api.router, preview.router)
    web.install(app)  # staff sign-in and pages; CurrentStaff then also accepts a signed-in session
    add_routes(app, cases_api.router, stats_api.router, audit_api.router, chats_api.router, web_chat.router, chat_pages.router)
    _install_health(app)
    _install_docs_and_metrics(app, settings)
    app.openapi = lambda: _openapi_with_webhooks(app)  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    return app


def _install_health(app: FastAPI) -> None:
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"], summary="The process is alive")
    ready = "Database, Redis, schema and directory in order; `down` names each part that is not"
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"], summary=ready)


def _install_docs_and_metrics(app: FastAPI, settings: Settings) -> None:
    """The API's description and its page (for whom TSUNAGU_API_DOCS says), /metrics behind its token, and no-store on /api."""
    api_docs.install(app, settings)
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["operations"],
        summary="Prometheus metrics (a bearer token: TSUNAGU_METRICS_TOKEN)",
        response_class=PlainTextResponse,
        responses={
            200: {"description": "Prometheus text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
            401: {"description": "no bearer token, or not TSUNAGU_METRICS_TOKEN", "model": _Detail},
            404: {"description": "TSUNAGU_METRICS_TOKEN is not set: metrics are not served", "model": _Detail},
        },
    )
    app.add_middleware(NoStoreOnApi)


def _check_keyring(keys: keyring.Keyring) -> None:
    """Log at start-up when the keyring file cannot be read: calls are still routed, but nothing can be sealed."""
    try:
        keys.keyset()
    except (keyring.KeyringError, OSError) as error:
        log.error("keyring_unreadable", reason=str(error))


def _openapi_with_webhooks(app: FastAPI) -> dict:
    """FastAPI's schema, plus the Twilio and LINE webhooks that the ASGI layers in front of it serve."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        schema["paths"] = {**schema.get("paths", {}), **openapi_paths(), **line_paths()}
        app.openapi_schema = schema
    return app.openapi_schema


class NoStoreOnApi:
    """Every /api answer carries `Cache-Control: no-store`: contact numbers, notes and statistics stay out of every cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message["headers"] = [*headers, (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_no_store)


class RequestContext:
    """Give every request an id (bound to its log lines, returned as x-request-id) and log it, path only.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware costs about a millisecond per request
    and leaves garbage that triggers long collections, on the path that answers callers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next((v.decode() for k, v in scope["headers"] if k == b"x-request-id"), None) or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],  # never the query: it may carry a postal code or worse
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )


async def _tsunagu_error(_request: Request, error: TsunaguError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code)


async def healthz() -> dict:
    return {"status": "ok"}


async def readyz(runtime: RuntimeDep) -> JSONResponse:
    database, redis, schema, records = await asyncio.gather(
        _answer_of(db.ping(runtime.engine)),
        _answer_of(runtime.redis.ping()),
        _answer_of(migrations.schema_state(runtime.engine)),
        _answer_of(_record_backlog(runtime)),
    )
    checks = {
        "database": "ok" if not isinstance(database, str) else database,
        "redis": "ok" if not isinstance(redis, str) else redis,
        # ahead: a newer release migrated, and its tables are a superset of ours
        "schema": schema.describe() if isinstance(schema, migrations.SchemaState) else schema.replace("unreachable", "unknown"),
        "directory": f"version {runtime.snapshot.version}" if runtime.snapshot else "loading",
    }
    down = [part for part, value in checks.items() if value.startswith(("unreachable", "unknown", "behind", "loading"))]
    checks["call_records"] = records  # said, never a reason to be unready: calls go on while their records wait in Redis
    body = {"status": "not ready" if down else "ready", "down": down, "checks": checks}
    return JSONResponse(body, status_code=503 if down else 200)


async def _answer_of(check: Awaitable[T]) -> T | str:
    """What a part answered within READY_CHECK_SECONDS, or why it did not ("unreachable: ..."); never the error's text."""
    try:
        async with asyncio.timeout(READY_CHECK_SECONDS):
            return await check
    except TimeoutError:
        return f"unreachable: no answer within {READY_CHECK_SECONDS:.0f} s"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"


async def _record_backlog(runtime: Runtime) -> str:
    """Say how the call records written behind are doing; it never makes the service unready (calls go on, records wait in Redis)."""
    try:
        waiting = await record_log.backlog(runtime.redis, runtime.settings.var_dir)
    except Exception as error:
        return f"unknown: {type(error).__name__}"
    spooled = f", {waiting.spooled_bytes} bytes spooled" if waiting.spooled_bytes else ""
    if waiting.oldest_seconds > RECORDS_STUCK_SECONDS or waiting.queued > RECORDS_LARGE_BACKLOG or waiting.spooled_bytes:
        return f"behind: {waiting.queued} queued, the oldest {waiting.oldest_seconds:.0f} s ago{spooled}"
    return f"ok: {waiting.queued} queued"


class _Detail(BaseModel):
    detail: str


_metrics_bearer = HTTPBearer(auto_error=False, scheme_name="MetricsToken", description="TSUNAGU_METRICS_TOKEN, sent by Prometheus")


async def metrics(runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)]) -> Response:
    check_scraper(runtime.settings.metrics_token.get_secret_value(), credentials.credentials if credentials else None)
    snapshot = runtime.snapshot
    slots: dict[str, tuple[int, int]] = {}
    if snapshot is not None:
        in_use = await runtime.live.slots_in_use(snapshot.services)
        for service in snapshot.services.values():
            held, total = slots.get(service.tier, (0, 0))
            slots[service.tier] = (held + in_use.get(service.id, 0), total + service.capacity.get("voice", 0))
    waiting = await runtime.live.waiting()
    chats = await runtime.live.chats_held()
    queued = (await record_log.backlog(runtime.redis, runtime.settings.var_dir)).queued
    return Response(runtime.metrics.render(slots, waiting, chats, queued), media_type=CONTENT_TYPE)
