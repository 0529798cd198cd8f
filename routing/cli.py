"""The `tsunagu` command: serve, directory import/export, users."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import httpx
import typer
from redis.exceptions import RedisError

from referral_directory import db
from referral_directory import service as directory_service
from referral_directory.interchange import FORMATS, read_directory_file, write_directory_file
from referral_directory.staff import StaffError, add_user
from routing.runtime import Runtime, open_runtime
from routing.settings import Settings

app = typer.Typer(help="tsunagu: routing and referral for the national loneliness and isolation consultation dial.", no_args_is_help=True)
directory_app = typer.Typer(help="Import and export the support-organisation directory.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)
app.add_typer(directory_app, name="directory")
app.add_typer(users_app, name="users")


def main() -> None:
    """Entry point of the console script."""
    app()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


async def _with_runtime(work, **options):  # type: ignore[no-untyped-def]
    runtime: Runtime = await open_runtime(Settings(), snapshot=False, watch=False, **options)
    try:
        return await work(runtime)
    finally:
        await runtime.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
) -> None:
    """Run the service (SQLite and an embedded Redis under ./var/ unless configured otherwise)."""
    import uvicorn

    from routing.logs import configure_logging
    from routing.redis_server import EmbeddedRedis

    settings = Settings()
    configure_logging(settings.log_level)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Several workers: each writes its counters here and /metrics adds them all up.
        metrics_dir = settings.var_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    embedded = None
    if not settings.redis_url:
        # One embedded server for every worker: start it here and hand its socket to them.
        embedded = EmbeddedRedis(settings.var_dir)
        os.environ["TSUNAGU_REDIS_URL"] = embedded.url
    try:
        # Migrate and load the demo once, before the workers start, so they do not race for it.
        asyncio.run(_with_runtime(lambda runtime: asyncio.sleep(0), demo=settings.load_demo_directory))
        uvicorn.run(
            "routing.app:create_app", factory=True, host=host, port=port, workers=workers,
            loop="uvloop", http="httptools", log_config=None, proxy_headers=True,
            access_log=False,  # our request log has the path without the query, which may carry personal data
        )
    finally:
        if embedded is not None:
            embedded.close()


@directory_app.command("import")
def directory_import(path: Annotated[Path, typer.Argument(help="HSDS JSON (JP profile), CSV or XLSX file")]) -> None:
    """Import a directory file: all of it, or nothing with every problem listed."""

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions() as session:
            known = {o.id for o in (await directory_service.load_directory(session)).organizations}
        try:
            result = read_directory_file(path, runtime.regions, known_organization_ids=known)
        except OSError as error:
            raise _fail(f"cannot read {path}: {error.strerror}", 2) from None
        if not result.problems:
            async with runtime.sessions() as session:
                result = replace(result, problems=await directory_service.id_conflicts(session, result.records))
        if result.problems:
            typer.echo(f"refused {path}: {len(result.problems)} problem(s); nothing was written", err=True)
            for problem in result.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1)
        async with db.transaction(runtime.sessions) as session:
            summary = await directory_service.save_records(session, result.records, actor=f"import:{path.name}")
        try:  # announced even when unchanged: a rerun repairs an announcement that Redis missed
            await runtime.live.publish_version(summary.version)
        except RedisError:
            typer.echo(
                "note: the directory is stored, but Redis could not be reached to announce it; running "
                "services compare the stored version every few seconds and will pick it up", err=True,
            )
        records = result.records
        typer.echo(
            f"imported {path} ({len(records.services)} services, {len(records.organizations)} organisations): "
            f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged; "
            f"directory version {summary.version}"
        )

    asyncio.run(_with_runtime(work))


@directory_app.command("export")
def directory_export(
    path: Annotated[str, typer.Argument(help="file to write, or - for standard output")],
    format: Annotated[str, typer.Option("--format", help=f"one of: {', '.join(FORMATS)}")] = "hsds",
) -> None:
    """Export the whole directory."""
    if format not in FORMATS:
        raise _fail(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}", 2)

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions() as session:
            records = await directory_service.load_directory(session)
        data = write_directory_file(records, format, runtime.regions)
        if path == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(path).write_bytes(data)
            typer.echo(f"exported {len(records.services)} services, {len(records.organizations)} organisations to {path}")

    asyncio.run(_with_runtime(work))


@app.command()
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

    settings = Settings()
    lines = {n: Line("busy") for n in busy or ()} | {n: Line("no-answer") for n in no_answer or ()} | {n: Line("failed") for n in fail or ()}
    script = Caller(number=caller, dialled=to, keys=[k or None for k in keys.split(",")] if keys else [], lines=lines)

    async def place() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            simulator = TwilioSimulator(client, public_url=settings.public_url, auth_token=settings.twilio_auth_token)
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
            raise typer.Exit(1)

    asyncio.run(place())


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="counsellor, supervisor, coordinator, auditor or admin")],
    org: Annotated[str | None, typer.Option(help="organisation id (counsellors and supervisors)")] = None,
    region: Annotated[list[str] | None, typer.Option(help="lgcode of a region (coordinators; repeatable; 000000 = whole country)")] = None,
) -> None:
    """Create a staff account; its API token is printed alone on the last line."""

    async def work(runtime: Runtime) -> str:
        try:
            async with db.transaction(runtime.sessions) as session:
                staff, token = await add_user(
                    session, runtime.regions, name=name, role=role, organization_id=org, region_codes=region or ()
                )
        except StaffError as error:
            raise _fail(f"not created: {error}") from None
        typer.echo(f"created {staff.role.value} {staff.name}" + (f" for {' '.join(staff.regions)}" if staff.regions else ""))
        typer.echo("API token (shown once; send it as `Authorization: Bearer TOKEN`):")
        return token

    typer.echo(asyncio.run(_with_runtime(work)))
