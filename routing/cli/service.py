"""`tsunagu serve`, `tsunagu migrate` and `tsunagu call`: run the service, bring its schema up to date, place a simulated call."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from types import FrameType
from typing import Annotated, Any

import httpx
import typer

from routing import migrations
from routing.cli.common import fail, with_runtime
from routing.settings import Role, Settings

# Idle HTTP connections stay open this long (uvicorn's default is 5 s). Longer than the idle timeout
# of the proxies in front (nginx's upstream keep-alive and cloud load balancers use 60 s), so the
# service never closes a connection the proxy is about to reuse (a 502 for that request), and a
# dashboard polling every few seconds keeps its connection.
KEEP_ALIVE_SECONDS = 75
REFUSED_SIGNATURE = (
    "サービスが署名を受け付けませんでした（403）。サービスと同じ TWILIO_AUTH_TOKEN で、"
    "Twilio を設定していない場合はサービスと同じ var/ フォルダ（TSUNAGU_VAR_DIR）で実行してください。"
)


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that `serve` stops the embedded Redis before it goes."""


def _terminated(_signal: int, _frame: FrameType | None) -> None:
    raise _Terminated


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: X-Forwarded-For and -Proto are believed only from TSUNAGU_TRUSTED_PROXIES (none by default).

    uvicorn would otherwise believe them from 127.0.0.1, so any local client could pick the address its
    sign-in failures are counted under, and escape the per-address lock.
    """
    proxies = settings.trusted_proxy_list
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    role: Annotated[
        Role | None,
        typer.Option(
            help="all: HTTP and the periodic work, migrating first; web: HTTP only; jobs: the periodic work (default TSUNAGU_ROLE)"
        ),
    ] = None,
) -> None:
    """Run the service (SQLite and an embedded Redis under ./var/ unless configured otherwise)."""
    import uvicorn

    from routing.live.redis_server import EmbeddedRedis
    from routing.logs import configure_logging

    if role is not None:
        os.environ["TSUNAGU_ROLE"] = role  # the workers build their settings from the environment
    settings = Settings()
    if reason := settings.insecure_secret():
        raise fail(f"tsunagu serve: {reason}", code=2)
    configure_logging(settings.log_level)
    if settings.role != "all":
        _refuse_an_old_schema(settings)
    # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler it found: the
    # default one would end the process before the `finally` below stops the embedded Redis.
    signal.signal(signal.SIGTERM, _terminated)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Several workers: each writes its counters here and /metrics adds them all up.
        metrics_dir = settings.var_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    embedded, terminated = None, False
    if not settings.redis_url:
        # One embedded server for every worker: start it here and hand its socket to them.
        embedded = EmbeddedRedis(settings.var_dir)
        os.environ["TSUNAGU_REDIS_URL"] = embedded.url
    try:
        # Migrate (role `all`) and load the demo once, before the workers start, so they do not race for it.
        asyncio.run(with_runtime(lambda runtime: asyncio.sleep(0), demo=settings.load_demo_directory, migrate=settings.role == "all"))
        uvicorn.run(
            "routing.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,  # our request log has the path without the query, which may carry personal data
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            **proxy_options(settings),
        )
    except _Terminated:
        terminated = True
    finally:
        if embedded is not None:
            embedded.close()
    if terminated:  # end as SIGTERM ends a process, as uvicorn meant to
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


def _refuse_an_old_schema(settings: Settings) -> None:
    """Exit with one line naming `tsunagu migrate` when the database is older than the code (roles `web` and `jobs` never migrate)."""
    from referral_directory.storage import db

    async def check() -> None:
        engine = db.create_engine(settings.sqlalchemy_url)
        try:
            await migrations.check_schema(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except migrations.SchemaBehind as behind:
        raise fail(f"tsunagu serve --role {settings.role}: {behind}", code=3) from None


def migrate() -> None:
    """Bring the database's schema to this release's newest revision, once, and print it (nothing to do is fine)."""
    from referral_directory.storage import db

    settings = Settings()

    async def run() -> tuple[migrations.SchemaState, migrations.SchemaState]:
        engine = db.create_engine(settings.sqlalchemy_url)
        try:
            before = await migrations.schema_state(engine)
            if before.standing != "ahead":
                await migrations.migrate(engine)
            return before, await migrations.schema_state(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    if after.standing == "ahead":
        raise fail(f"the database is at {after.revision}, newer than this release ({after.head}): nothing done", code=3)
    if before.revision == after.revision:
        typer.echo(f"schema already at revision {after.revision}")
    else:
        typer.echo(f"schema migrated from {before.revision or 'nothing'} to revision {after.revision}")


def call(
    caller: Annotated[str, typer.Option("--from", help="the caller's number (E.164); it is never stored")] = "+819012345678",
    keys: Annotated[str, typer.Option(help="what the caller keys at each prompt, comma-separated; empty = silence, e.g. 1,1000001")] = "",
    busy: Annotated[list[str] | None, typer.Option(help="a number that answers busy (repeatable)")] = None,
    no_answer: Annotated[list[str] | None, typer.Option("--no-answer", help="a number that rings out (repeatable)")] = None,
    fail: Annotated[list[str] | None, typer.Option(help="a number whose call fails (repeatable)")] = None,
    url: Annotated[str, typer.Option(help="where the service runs")] = "http://127.0.0.1:8000",
    to: Annotated[str, typer.Option(help="the dial's own number the caller rang")] = "+81120000000",
) -> None:
    """Place a simulated call against a running service, as Twilio would, and print what the caller hears and which numbers ring."""
    from routing.telephony.simulator import Caller, Line, TwilioSimulator
    from routing.telephony.webhook_token import webhook_token

    settings = Settings()
    lines = (
        {n: Line("busy") for n in busy or ()} | {n: Line("no-answer") for n in no_answer or ()} | {n: Line("failed") for n in fail or ()}
    )
    script = Caller(number=caller, dialled=to, keys=[k or None for k in keys.split(",")] if keys else [], lines=lines)

    async def place() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            simulator = TwilioSimulator(client, public_url=settings.public_url, auth_token=webhook_token(settings))
            result = await simulator.call(script)
        for event in result.events:
            detail = event.detail
            if event.kind == "say":
                typer.echo(f"  聞こえる: {detail.get('text', '')}")
            elif event.kind == "gather":
                typer.echo(f"  入力: {detail.get('input') or '(なし)'}")
            elif event.kind == "dial":
                typer.echo(f"  呼出: {', '.join(detail.get('numbers', []))} → {detail.get('outcome')}")
            elif event.kind in ("pause", "hangup", "error"):
                typer.echo(f"  {event.kind}: {detail}")
        typer.echo(f"ended: {result.ended_by}; rang: {', '.join(result.rung()) or 'nobody'}")
        if result.errors():
            if any("HTTP 403" in why for why in result.errors()):
                typer.echo(REFUSED_SIGNATURE, err=True)
            raise typer.Exit(1)

    asyncio.run(place())
