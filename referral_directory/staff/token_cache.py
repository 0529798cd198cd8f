"""API tokens looked up once every few seconds per worker, not on every request.

A counsellor's dashboard or a desk's script sends its bearer token with every request. Looking it
up costs a database session of its own (a pool check-out and a transaction, a few round trips)
before the request's real work begins: measured in the May surge drill, about a sixth of the
service's CPU time per API request. A worker remembers a token it has seen valid for
`TOKEN_CACHE_SECONDS`; a change to the account (its role, its organisation, disabling it) reaches
the API within that time. Unknown or disabled tokens are never remembered, so a new token works
at once and guessing costs a lookup each time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from referral_directory.staff.accounts import Staff, hash_token, staff_for_token

TOKEN_CACHE_SECONDS = 5.0
MAX_TOKENS = 10_000  # far more staff than any deployment has; the oldest are forgotten first


class TokenCache:
    """The staff members behind recently seen valid API tokens, each for a few seconds."""

    def __init__(
        self, *, seconds: float = TOKEN_CACHE_SECONDS, limit: int = MAX_TOKENS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds, self.limit, self.clock = seconds, limit, clock
        self._seen: OrderedDict[str, tuple[float, Staff]] = OrderedDict()

    async def staff(self, sessions: async_sessionmaker[AsyncSession], token: str) -> Staff | None:
        """Return the active staff member the token belongs to, or None; asks the database when not seen lately."""
        key = hash_token(token)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.seconds:
            return seen[1]
        self._seen.pop(key, None)
        async with sessions() as session:
            staff = await staff_for_token(session, token)
        if staff is not None:
            self._seen[key] = (now, staff)
            while len(self._seen) > self.limit:
                self._seen.popitem(last=False)
        return staff
