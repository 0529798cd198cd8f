"""`tsunagu chat`: a person on LINE against a running service, through a local fake of LINE's platform.

The service must send to the fake: start it with `TSUNAGU_LINE_API_URL=http://127.0.0.1:8765`
and the same `LINE_CHANNEL_SECRET` and `LINE_CHANNEL_ACCESS_TOKEN` as this command sees. Each
step is what the person does (a button's data such as `topic:mind`, or words); after each, what
the person reads in LINE is printed, with the buttons under it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import httpx
import typer

from routing.settings import Settings

if TYPE_CHECKING:
    from routing.chats.line.fake import LinePerson

BUTTON_PREFIXES = ("topic:", "postal:", "pref:", "age:", "crisis")
QUIET_SECONDS = 0.8  # a step's answers have all come when nothing more comes for this long


def chat(
    steps: Annotated[
        str, typer.Option("--say", help="what the person sends, comma-separated: a button's data (topic:mind, age:30-49) or words")
    ] = "topic:general,1000001,age:30-49",
    url: Annotated[str, typer.Option(help="where the service runs")] = "http://127.0.0.1:8000",
    line_port: Annotated[int, typer.Option(help="the port of the fake LINE platform (TSUNAGU_LINE_API_URL of the service)")] = 8765,
    stay: Annotated[float, typer.Option(help="seconds to keep reading after the last step (a counsellor's answer)")] = 3.0,
) -> None:
    """Talk to a running service as a person on LINE, and print what they read."""
    from routing.chats.line.fake import FakeLine

    settings = Settings()
    secret, token = settings.line_channel_secret.get_secret_value(), settings.line_channel_access_token.get_secret_value()
    if not secret or not token:
        typer.echo("set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN (the same as the service's)", err=True)
        raise typer.Exit(2)

    async def talk() -> None:
        fake = FakeLine(access_token=token, channel_secret=secret, port=line_port)
        await asyncio.to_thread(fake.serve_in_thread)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=20) as client:
                person = fake.person(client, "/line/webhook")
                reader = _Reader(person)
                _check(await person.follow())
                await reader.print_new()
                for step in (s.strip() for s in steps.split(",") if s.strip()):
                    typer.echo(f"  送る: {step}")
                    _check(await (person.tap(step) if step.startswith(BUTTON_PREFIXES) else person.say(step)))
                    await reader.print_new()
                await asyncio.sleep(stay)
                await reader.print_new(wait=0)
        finally:
            await asyncio.to_thread(fake.stop)

    asyncio.run(talk())


def _check(status: int) -> None:
    if status != 200:
        typer.echo(f"the service answered the webhook with HTTP {status}", err=True)
        raise typer.Exit(1)


class _Reader:
    """Prints what the person reads in LINE, each message once."""

    def __init__(self, person: LinePerson) -> None:
        self.person, self.seen = person, 0

    async def print_new(self, wait: float = QUIET_SECONDS) -> None:
        """Print the messages that came since last time, once nothing more has come for a moment."""
        while True:
            count = len(self.person.inbox())
            await asyncio.sleep(wait)
            if len(self.person.inbox()) == count:
                break
        for message in self.person.inbox()[self.seen :]:
            typer.echo(f"  読む: {message.text}")
            if message.quick_labels:
                typer.echo(f"        [ボタン] {' / '.join(message.quick_labels)}")
        self.seen = len(self.person.inbox())
