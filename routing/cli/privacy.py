"""`tsunagu audit verify`, `tsunagu keys` and `tsunagu purge`: the confidentiality controls an operator runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from referral_directory.staff import audit
from referral_directory.storage import db
from routing import migrations
from routing.cli.common import fail
from routing.clock import Clock
from routing.privacy import keyring
from routing.privacy.purge import Purged, purge_now
from routing.settings import Settings

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys for callers' pseudonyms and sealed values: rotate, list, destroy.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing; answer by the exit code alone")] = False,
) -> None:
    """Check every link of the audit log; exit 1 naming the first broken one when a row was changed or removed."""
    settings = Settings()
    key = audit.key_from_secret(settings.secret_key.get_secret_value())

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
def keys_rotate(purpose: Annotated[str, typer.Option(help="pseudonym, seal or both")] = "both") -> None:
    """Add a new key and make it current; the first rotation creates the keyring file (mode 0600)."""
    purposes = {"pseudonym": [keyring.PSEUDONYM], "seal": [keyring.SEAL], "both": list(keyring.PURPOSES)}.get(purpose)
    if purposes is None:
        raise fail(f"unknown purpose {purpose!r}; choose one of: pseudonym, seal, both", 2)
    keys = keyring.keys_for(Settings())
    try:
        new = keys.rotate(purposes, now=datetime.now(UTC))
    except (keyring.KeyringError, OSError) as error:
        raise fail(f"not rotated: {error}") from None
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
        raise fail(str(error)) from None
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
        keys.destroy(key_id, now=datetime.now(UTC))
    except (keyring.KeyringError, OSError) as error:
        raise fail(f"not destroyed: {error}") from None
    consequence = "its pseudonyms can no longer be linked to a number" if key_id.startswith("k") else "values sealed with it are gone"
    typer.echo(f"destroyed {key_id}: {consequence}")


def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count what is due; change nothing")] = False) -> None:
    """Empty the identifying fields past their retention period (statistics stay); print counts per field."""

    settings = Settings()

    async def work() -> Purged:  # the database alone: no Redis, no regions (the service's own runs take a Redis lock)
        engine = db.create_engine(settings.sqlalchemy_url)
        try:
            await migrations.migrate(engine)
            sessions = db.session_factory(engine)
            audit.bind_key(sessions, audit.key_from_secret(settings.secret_key.get_secret_value()))
            now = Clock(settings.clock, settings.clock_speed).now()
            return await purge_now(sessions, settings=settings, now=now, actor="cli:purge", dry_run=dry_run)
        finally:
            await engine.dispose()

    result = asyncio.run(work())
    typer.echo(f"{'would purge (dry run: nothing changed)' if dry_run else 'purged'} at {result.at:%Y-%m-%dT%H:%M:%SZ}:")
    for field, count in result.counts.items():
        typer.echo(f"  {field}: {count}")
    typer.echo(f"  cases marked purged: {result.cases}")
    typer.echo(f"  chats marked purged: {result.chats}")
