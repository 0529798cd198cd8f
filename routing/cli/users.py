"""`tsunagu users`: staff accounts, passwords and API tokens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from referral_directory.staff import audit
from referral_directory.staff.accounts import (
    CHAT_CAP_MAX,
    Staff,
    StaffError,
    add_user,
    check_password_rules,
    disable_user,
    enable_user,
    set_chat_cap,
    set_password,
)
from referral_directory.staff.token_cache import TOKEN_CACHE_SECONDS
from referral_directory.storage import db
from routing.cli.common import fail, with_runtime
from routing.runtime import Runtime

app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)


T = TypeVar("T")


async def staff_change(runtime: Runtime, change: Callable[[AsyncSession], Awaitable[T]], *, refused: str) -> T:
    """Make a change to staff accounts in one transaction; a StaffError ends the command with `refused: why` (exit 1)."""
    try:
        async with db.transaction(runtime.sessions) as session:
            return await change(session)
    except StaffError as error:
        raise fail(f"{refused}: {error}") from None


async def audited_staff_change(
    runtime: Runtime,
    change: Callable[[AsyncSession], Awaitable[tuple[Staff, T]]],
    *,
    action: str,
    refused: str,
    audit_if: Callable[[T], bool] = lambda _: True,
) -> tuple[Staff, T]:
    """Make a staff change as `staff_change` does, and append `action` on that staff member to the audit log with it."""

    async def audited(session: AsyncSession) -> tuple[Staff, T]:
        staff, result = await change(session)
        if audit_if(result):
            await audit.append(session, actor="cli:users", action=action, resource_kind="staff", resource_id=staff.id)
        return staff, result

    return await staff_change(runtime, audited, refused=refused)


@app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="counsellor, supervisor, coordinator, auditor or admin")],
    org: Annotated[str | None, typer.Option(help="organisation id (counsellors and supervisors)")] = None,
    region: Annotated[list[str] | None, typer.Option(help="lgcode of a region (coordinators; repeatable; 000000 = whole country)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read a web sign-in password from the first line of standard input")
    ] = False,
) -> None:
    """Create a staff account; its API token is printed alone on the last line."""
    from routing.web.auth import hasher_for

    password = _read_password() if password_stdin else None
    if password is not None:
        try:
            check_password_rules(password)
        except StaffError as error:
            raise fail(f"not created: {error}") from None

    async def work(runtime: Runtime) -> str:
        async def create(session: AsyncSession) -> tuple[Staff, str]:
            created = await add_user(session, runtime.regions, name=name, role=role, organization_id=org, region_codes=region or ())
            if password is not None:
                await set_password(session, hasher_for(runtime.settings), name=name, password=password)
            return created

        staff, token = await staff_change(runtime, create, refused="not created")
        typer.echo(f"created {staff.role.value} {staff.name}" + (f" for {' '.join(staff.regions)}" if staff.regions else ""))
        if password is not None:
            typer.echo(f"password set: {staff.name} can sign in at {runtime.settings.public_url.rstrip('/')}/login")
        typer.echo("API token (shown once; send it as `Authorization: Bearer TOKEN`):")
        return token

    typer.echo(asyncio.run(with_runtime(work)))


@app.command("chat-cap")
def users_chat_cap(
    name: Annotated[str, typer.Argument(help="login name")],
    cap: Annotated[int | None, typer.Argument(help=f"chats held at once, 1 to {CHAT_CAP_MAX}; leave out for the service's default")] = None,
) -> None:
    """Set how many chats a counsellor or supervisor holds at once (their own cap; without one, TSUNAGU_CHAT_CAP)."""

    async def work(runtime: Runtime) -> None:
        staff, _ = await audited_staff_change(
            runtime, lambda s: _with_none(set_chat_cap(s, name=name, cap=cap)), action="staff.chat_cap", refused="not changed"
        )
        shown = staff.chat_cap if staff.chat_cap is not None else f"the service's default ({runtime.settings.chat_cap})"
        typer.echo(f"{staff.name} holds at most {shown} chats at once")

    asyncio.run(with_runtime(work))


async def _with_none(change: Awaitable[Staff]) -> tuple[Staff, None]:
    return await change, None


@app.command("password")
def users_password(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Set a staff member's web sign-in password, read from standard input (asked twice at a terminal); signs them out everywhere."""
    from routing.web import sessions as web_sessions
    from routing.web import throttle
    from routing.web.auth import hasher_for

    password = _read_password()

    async def work(runtime: Runtime) -> None:
        hasher = hasher_for(runtime.settings)
        staff = await staff_change(runtime, lambda s: set_password(s, hasher, name=name, password=password), refused="not changed")
        typer.echo(f"password set for {staff.name}")
        try:
            ended = await web_sessions.end_all_sessions(runtime.redis, staff.id)
            await throttle.unlock_account(runtime.redis, name=staff.name)
        except RedisError:
            typer.echo("note: Redis could not be reached: sessions signed in with the old password were not ended", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{ended} signed-in session(s) ended; any sign-in lock on the account is lifted")

    asyncio.run(with_runtime(work))


@app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Take a staff member's access away (someone leaving, a lost token): sign-in and API token refused, signed-in sessions ended."""
    from routing.web import sessions as web_sessions

    async def work(runtime: Runtime) -> None:
        staff, was_active = await audited_staff_change(
            runtime, lambda s: disable_user(s, name=name), action="staff.disable", refused="not disabled", audit_if=bool
        )
        typer.echo(f"disabled {staff.name}" if was_active else f"{staff.name} was already disabled")
        typer.echo(f"their web pages are refused at once, their API token within {TOKEN_CACHE_SECONDS:g} s; cases and records stay")
        try:
            ended = await web_sessions.end_all_sessions(runtime.redis, staff.id)
        except RedisError:
            typer.echo("note: Redis could not be reached: signed-in sessions are refused at their next request all the same", err=True)
            return
        typer.echo(f"{ended} signed-in session(s) ended")

    asyncio.run(with_runtime(work))


@app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Give a disabled staff member their access back with a new API token, printed alone on the last line (the old one stays refused)."""

    async def work(runtime: Runtime) -> str:
        staff, token = await audited_staff_change(
            runtime, lambda s: enable_user(s, name=name), action="staff.enable", refused="not enabled"
        )
        typer.echo(f"enabled {staff.name}; their password is unchanged (set a new one with `tsunagu users password {staff.name}`)")
        typer.echo("new API token (shown once; the old one stays refused):")
        return token

    typer.echo(asyncio.run(with_runtime(work)))


def _read_password() -> str:
    """Read a password: hidden prompts at a terminal, else the first line of standard input (never an argument)."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise fail("the two passwords differ; nothing was changed")
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise fail("no password on standard input (give it as the first line)")
    return password
