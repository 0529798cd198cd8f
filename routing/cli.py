"""The `tsunagu` command: serve, directory import/export, users, audit verify, keys, purge."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import httpx
import typer
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.staff import audit
from referral_directory.storage import db
from routing import migrations
from referral_directory import service as directory_service
from referral_directory.interchange import FORMATS, read_directory_file, write_directory_file
from referral_directory.staff.accounts import Staff, StaffError, add_user, check_password_rules, disable_user, enable_user, set_password
from referral_directory.staff.token_cache import TOKEN_CACHE_SECONDS
from routing.privacy import keyring
from routing.clock import Clock
from routing.privacy.purge import Purged, purge_now
from routing.runtime import Runtime, open_runtime
from routing.settings import Settings

# Idle HTTP connections stay open this long (uvicorn's default is 5 s). Longer than the idle timeout
# of the proxies in front (nginx's upstream keep-alive and cloud load balancers use 60 s), so the
# service never closes a connection the proxy is about to reuse (a 502 for that request), and a
# dashboard polling every few seconds keeps its connection.
KEEP_ALIVE_SECONDS = 75

app = typer.Typer(help="tsunagu: routing and referral for the national loneliness and isolation consultation dial.", no_args_is_help=True)
directory_app = typer.Typer(help="Import and export the support-organisation directory.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
app.add_typer(directory_app, name="directory")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="Keys for callers' pseudonyms and sealed values: rotate, list, destroy.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Entry point of the console script."""
    app()


T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


async def _staff_change(runtime: Runtime, change: Callable[[AsyncSession], Awaitable[T]], *, refused: str) -> T:
    """Make a change to staff accounts in one transaction; a StaffError ends the command with `refused: why` (exit 1)."""
    try:
        async with db.transaction(runtime.sessions) as session:
            return await change(session)
    except StaffError as error:
        raise _fail(f"{refused}: {error}") from None


async def _with_runtime(work, **options):  # type: ignore[no-untyped-def]
    settings = Settings()
    runtime: Runtime = await open_runtime(settings, snapshot=False, watch=False, **options)
    audit.bind_key(runtime.sessions, audit.key_from_secret(settings.secret_key))
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
    from routing.live.redis_server import EmbeddedRedis

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
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
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


@audit_app.command("verify")
def audit_verify(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing; answer by the exit code alone")] = False) -> None:
    """Check every link of the audit log; exit 1 naming the first broken one when a row was changed or removed."""
    settings = Settings()
    key = audit.key_from_secret(settings.secret_key)

    async def work() -> audit.Verification:
        engine = db.create_engine(settings.sqlalchemy_url)
        try:
            await migrations.migrate(engine)
            async with db.session_factory(engine)() as session:
                return await audit.verify(session, keys=[key])
        finally:
            await engine.dispose()

    result = asyncio.run(work())
    if result.broken is not None:
        broken = result.broken
        if not quiet:
            typer.echo(f"audit log broken at seq {broken.seq}{f' ({broken.action})' if broken.action else ''}: {broken.message}", err=True)
            typer.echo(f"the {result.events} event(s) before it verify; the last good link is seq {result.last_seq}", err=True)
        raise typer.Exit(1)
    if quiet:
        return
    typer.echo(f"audit log intact: {result.events} events, last seq {result.last_seq}, head hash {result.head_hash}")
    if result.unkeyed:
        typer.echo(
            f"note: {result.unkeyed} of them carry a plain SHA-256, not the keyed hash: they show accidental changes, "
            "but someone with database access alone could rewrite them"
        )


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Option(help="pseudonym, seal or both")] = "both",
) -> None:
    """Add a new key and make it current; the first rotation creates the keyring file (mode 0600)."""
    purposes = {"pseudonym": [keyring.PSEUDONYM], "seal": [keyring.SEAL], "both": list(keyring.PURPOSES)}.get(purpose)
    if purposes is None:
        raise _fail(f"unknown purpose {purpose!r}; choose one of: pseudonym, seal, both", 2)
    keys = keyring.keys_for(Settings())
    try:
        new = keys.rotate(purposes, now=datetime.now(timezone.utc))
    except (keyring.KeyringError, OSError) as error:
        raise _fail(f"not rotated: {error}") from None
    for key in new:
        typer.echo(f"{key.id} is now the current {key.purpose} key")
    typer.echo(f"keyring file: {keys.path}")


@keys_app.command("list")
def keys_list() -> None:
    """Show every key's id, purpose, creation date and state (never the key material)."""
    keys = keyring.keys_for(Settings())
    try:
        infos = keys.keyset().describe()
    except (keyring.KeyringError, OSError) as error:
        raise _fail(str(error)) from None
    if not keys.from_file:
        typer.echo(f"no keyring file at {keys.path}: keys are derived from TSUNAGU_SECRET_KEY")
    for info in infos:
        created = f"{info.created_at:%Y-%m-%d %H:%M} UTC" if info.created_at else "from the secret"
        state = "current" if info.current else f"destroyed {info.destroyed_at:%Y-%m-%d}" if info.destroyed_at else "old"
        typer.echo(f"{info.id:<6} {info.purpose:<10} {created if not info.destroyed_at else '-':<22} {state}")


@keys_app.command("destroy")
def keys_destroy(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="an old key's id, e.g. k1 or s1")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Remove an old key for good: its pseudonyms become unlinkable and what was sealed with it cannot be opened."""
    if not yes:
        typer.confirm(f"destroy {key_id} for good? what was made with it can never be linked or opened again", abort=True)
    keys = keyring.keys_for(Settings())
    try:
        keys.destroy(key_id, now=datetime.now(timezone.utc))
    except (keyring.KeyringError, OSError) as error:
        raise _fail(f"not destroyed: {error}") from None
    consequence = "its pseudonyms can no longer be linked to a number" if key_id.startswith("k") else "values sealed with it are gone"
    typer.echo(f"destroyed {key_id}: {consequence}")


@app.command()
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count what is due; change nothing")] = False) -> None:
    """Empty the identifying fields past their retention period (statistics stay); print counts per field."""

    settings = Settings()

    async def work() -> Purged:  # the database alone: no Redis, no regions (the service's own runs take a Redis lock)
        engine = db.create_engine(settings.sqlalchemy_url)
        try:
            await migrations.migrate(engine)
            sessions = db.session_factory(engine)
            audit.bind_key(sessions, audit.key_from_secret(settings.secret_key))
            now = Clock(settings.clock, settings.clock_speed).now()
            return await purge_now(sessions, settings=settings, now=now, actor="cli:purge", dry_run=dry_run)
        finally:
            await engine.dispose()

    result = asyncio.run(work())
    typer.echo(f"{'would purge (dry run: nothing changed)' if dry_run else 'purged'} at {result.at:%Y-%m-%dT%H:%M:%SZ}:")
    for field, count in result.counts.items():
        typer.echo(f"  {field}: {count}")
    typer.echo(f"  cases marked purged: {result.cases}")


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
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read a web sign-in password from the first line of standard input")] = False,
) -> None:
    """Create a staff account; its API token is printed alone on the last line."""
    from routing.web.auth import hasher_for

    password = _read_password() if password_stdin else None
    if password is not None:
        try:
            check_password_rules(password)
        except StaffError as error:
            raise _fail(f"not created: {error}") from None

    async def work(runtime: Runtime) -> str:
        async def create(session: AsyncSession) -> tuple[Staff, str]:
            created = await add_user(session, runtime.regions, name=name, role=role, organization_id=org, region_codes=region or ())
            if password is not None:
                await set_password(session, hasher_for(runtime.settings), name=name, password=password)
            return created

        staff, token = await _staff_change(runtime, create, refused="not created")
        typer.echo(f"created {staff.role.value} {staff.name}" + (f" for {' '.join(staff.regions)}" if staff.regions else ""))
        if password is not None:
            typer.echo(f"password set: {staff.name} can sign in at {runtime.settings.public_url.rstrip('/')}/login")
        typer.echo("API token (shown once; send it as `Authorization: Bearer TOKEN`):")
        return token

    typer.echo(asyncio.run(_with_runtime(work)))


@users_app.command("password")
def users_password(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Set a staff member's web sign-in password, read from standard input (asked twice at a terminal); signs them out everywhere."""
    from routing.web import sessions as web_sessions
    from routing.web import throttle
    from routing.web.auth import hasher_for

    password = _read_password()

    async def work(runtime: Runtime) -> None:
        hasher = hasher_for(runtime.settings)
        staff = await _staff_change(runtime, lambda s: set_password(s, hasher, name=name, password=password), refused="not changed")
        typer.echo(f"password set for {staff.name}")
        try:
            ended = await web_sessions.end_all_sessions(runtime.redis, staff.id)
            await throttle.unlock_account(runtime.redis, name=staff.name)
        except RedisError:
            typer.echo("note: Redis could not be reached: sessions signed in with the old password were not ended", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{ended} signed-in session(s) ended; any sign-in lock on the account is lifted")

    asyncio.run(_with_runtime(work))


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Take a staff member's access away (someone leaving, a lost token): sign-in and API token refused, signed-in sessions ended."""
    from routing.web import sessions as web_sessions

    async def work(runtime: Runtime) -> None:
        async def disable(session: AsyncSession) -> tuple[Staff, bool]:
            staff, was_active = await disable_user(session, name=name)
            if was_active:
                await audit.append(session, actor="cli:users", action="staff.disable", resource_kind="staff", resource_id=staff.id)
            return staff, was_active

        staff, was_active = await _staff_change(runtime, disable, refused="not disabled")
        typer.echo(f"disabled {staff.name}" if was_active else f"{staff.name} was already disabled")
        typer.echo(f"their web pages are refused at once, their API token within {TOKEN_CACHE_SECONDS:g} s; cases and records stay")
        try:
            ended = await web_sessions.end_all_sessions(runtime.redis, staff.id)
        except RedisError:
            typer.echo("note: Redis could not be reached: signed-in sessions are refused at their next request all the same", err=True)
            return
        typer.echo(f"{ended} signed-in session(s) ended")

    asyncio.run(_with_runtime(work))


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Give a disabled staff member their access back with a new API token, printed alone on the last line (the old one stays refused)."""

    async def work(runtime: Runtime) -> str:
        async def enable(session: AsyncSession) -> tuple[Staff, str]:
            staff, token = await enable_user(session, name=name)
            await audit.append(session, actor="cli:users", action="staff.enable", resource_kind="staff", resource_id=staff.id)
            return staff, token

        staff, token = await _staff_change(runtime, enable, refused="not enabled")
        typer.echo(f"enabled {staff.name}; their password is unchanged (set a new one with `tsunagu users password {staff.name}`)")
        typer.echo("new API token (shown once; the old one stays refused):")
        return token

    typer.echo(asyncio.run(_with_runtime(work)))


def _read_password() -> str:
    """Read a password: hidden prompts at a terminal, else the first line of standard input (never an argument)."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise _fail("the two passwords differ; nothing was changed")
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise _fail("no password on standard input (give it as the first line)")
    return password
