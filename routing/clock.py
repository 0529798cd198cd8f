"""The service clock: real time, or a drill clock that starts at TSUNAGU_CLOCK and runs at TSUNAGU_CLOCK_SPEED."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Clock:
    start: datetime | None = None  # None: real time
    speed: float = 1.0
    _started: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        """Return the service's current instant (UTC, aware)."""
        if self.start is None:
            return datetime.now(UTC)
        elapsed = (time.monotonic() - self._started) * self.speed
        return (self.start + timedelta(seconds=elapsed)).astimezone(UTC)
