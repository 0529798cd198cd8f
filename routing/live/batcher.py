"""Lua scripts run together: the calls made in one turn of the event loop go to Redis in one pipeline.

Under load many requests reach the same step at once (LINE's webhook accepts an event, then its
inbox is taken and released); each would pay a round trip to Redis of its own, the largest cost
of the step. A call here waits for the end of the current turn of the event loop, and every call
made by then is sent in one pipeline (not a transaction: each script is atomic by itself). Under
light load a batch is one call, at the cost of one loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Arg = str | int | float | bytes


class ScriptBatcher:
    """Runs script calls in batches, one pipeline per turn of the event loop."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pending: list[tuple[AsyncScript, Sequence[str], Sequence[Arg], asyncio.Future]] = []

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> object:
        """Run one script call with the others of this loop turn; return its result (or raise its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((script, keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        pipe = self.redis.pipeline(transaction=False)
        for script, keys, args, _ in batch:  # by hash alone: no SCRIPT EXISTS round trip before each batch
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as error:  # the connection failed: every call of the batch fails with it
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (script, keys, args, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, NoScriptError):  # Redis restarted and forgot its scripts: this call loads it again
                try:
                    result = await script(keys=list(keys), args=list(args))
                except Exception as error:
                    result = error
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
