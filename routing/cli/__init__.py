"""The `tsunagu` command: serve, migrate, call, chat, directory import/export, users, audit verify, keys, purge."""

from __future__ import annotations

import typer

from routing.cli import chat, directory, privacy, service, users

app = typer.Typer(help="tsunagu: routing and referral for the national loneliness and isolation consultation dial.", no_args_is_help=True)
app.command()(service.serve)
app.command()(service.migrate)
app.command()(service.call)
app.command()(chat.chat)
app.command()(privacy.purge)
app.add_typer(directory.app, name="directory")
app.add_typer(users.app, name="users")
app.add_typer(privacy.audit_app, name="audit")
app.add_typer(privacy.keys_app, name="keys")


def main() -> None:
    """Entry point of the console script."""
    app()
