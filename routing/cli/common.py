"""What every `tsunagu` command shares: a runtime for the command's work, and a refusal that names the reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from referral_directory.staff import audit
from routing.runtime import Runtime, open_runtime
from routing.settings import Settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a refusal on standard error and return the exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


async def with_runtime(work: Callable[[Runtime], Awaitable[T]], **options: Any) -> T:
    """Open a runtime (no snapshot, no watching), run the work on it, and close it."""
    settings = Settings()
    runtime: Runtime = await open_runtime(settings, snapshot=False, watch=False, **options)
    audit.bind_key(runtime.sessions, audit.key_from_secret(settings.secret_key.get_secret_value()))
    try:
        return await work(runtime)
    finally:
        await runtime.close()
