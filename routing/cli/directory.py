"""`tsunagu directory import` and `export`: the directory as HSDS JSON, CSV or XLSX files."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from redis.exceptions import RedisError

from referral_directory import service as directory_service
from referral_directory.interchange import FORMATS, read_directory_file, write_directory_file
from referral_directory.storage import db
from routing.cli.common import fail, with_runtime
from routing.runtime import Runtime

app = typer.Typer(help="Import and export the support-organisation directory.", no_args_is_help=True)


@app.command("import")
def directory_import(path: Annotated[Path, typer.Argument(help="HSDS JSON (JP profile), CSV or XLSX file")]) -> None:
    """Import a directory file: all of it, or nothing with every problem listed."""

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions() as session:
            known = {o.id for o in await directory_service.load_organizations(session)}
        try:
            result = read_directory_file(path, runtime.regions, known_organization_ids=known)
        except OSError as error:
            raise fail(f"cannot read {path}: {error.strerror}", 2) from None
        if not result.problems:
            async with runtime.sessions() as session:
                result = replace(result, problems=await directory_service.id_conflicts(session, result.records))
        if result.problems:
            typer.echo(f"refused {path}: {len(result.problems)} problem(s); nothing was written", err=True)
            for problem in result.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1)
        if result.warnings:
            typer.echo(f"read {path} with {len(result.warnings)} warning(s):", err=True)
            for warning in result.warnings:
                typer.echo(f"  {warning}", err=True)
        async with db.transaction(runtime.sessions) as session:
            summary = await directory_service.save_records(session, result.records, actor=f"import:{path.name}")
        try:  # announced even when unchanged: a rerun repairs an announcement that Redis missed
            await runtime.live.publish_version(summary.version)
        except RedisError:
            typer.echo(
                "note: the directory is stored, but Redis could not be reached to announce it; running "
                "services compare the stored version every few seconds and will pick it up",
                err=True,
            )
        records = result.records
        typer.echo(
            f"imported {path} ({len(records.services)} services, {len(records.organizations)} organisations): "
            f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged; "
            f"directory version {summary.version}"
        )

    asyncio.run(with_runtime(work))


@app.command("export")
def directory_export(
    path: Annotated[str, typer.Argument(help="file to write, or - for standard output")],
    format: Annotated[str, typer.Option("--format", help=f"one of: {', '.join(FORMATS)}")] = "hsds",
) -> None:
    """Export the whole directory."""
    if format not in FORMATS:
        raise fail(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}", 2)

    async def work(runtime: Runtime) -> None:
        async with runtime.sessions() as session:
            records = await directory_service.load_directory(session)
        data = write_directory_file(records, format, runtime.regions)
        if path == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(path).write_bytes(data)
            typer.echo(f"exported {len(records.services)} services, {len(records.organizations)} organisations to {path}")

    asyncio.run(with_runtime(work))
