"""What every update would otherwise read again: the user's row, "no open ticket", FSM state,
the FAQ's version.

Issue 18: a student's updates read the same rows over and over (their user row, whether they
have an open helpdesk ticket, their FSM state, the ``faq_versions`` row before an unsure
answer) although these change rarely. A :class:`HotCache` per process keeps them, bounded, and
forgets an entry as soon as it is written:

* Writes are seen by SQLAlchemy session events (below): a ``User`` or ``Ticket`` flushed, or a
  bulk ``UPDATE``/``DELETE`` of those tables or of ``fsm_state`` through a session; the FSM
  storage and ``FaqService.bump`` name what they write (:func:`changed`). When the transaction
  commits, every cache of this process forgets those entries, and the ids are published on Redis
  (channel ``studentbot:hotcache``) when the deployment has one, so the other processes forget
  them too. A rollback forgets nothing (nothing changed).
* A read that raced with a write is not kept: each kind has a generation counter, taken before
  the read and checked before the result is stored.
* Without Redis the process is alone (SQLite; a CLI command on the same machine is the one
  exception, covered by ``ttl``): entries are also dropped after ``ttl`` seconds, and all of
  them whenever the Redis subscription is lost (a message may have been missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from array import array
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from bot.db.models import FsmRecord, User
from bot.db.models.helpdesk import Ticket

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "studentbot:hotcache"
USERS, TICKETS, FSM, FAQ = "users", "tickets", "fsm", "faq"
ALL = "*"  # in place of ids: forget every entry of the kind
_CHANGED = "hotcache_changed"  # session.info: {kind: set of ids or {ALL}} written, not committed

_caches: weakref.WeakSet[HotCache] = weakref.WeakSet()  # every cache of this process
_by_engine: weakref.WeakKeyDictionary[Engine, HotCache] = weakref.WeakKeyDictionary()
SEEN_SLOTS = 1 << 15  # HotCache.seen_user: ids remembered (at most), 8 bytes each
_SEEN_MASK = SEEN_SLOTS - 1
_USER_COLUMNS = tuple(attr.key for attr in User.__mapper__.column_attrs)


_USER_MANAGER = User.__mapper__.class_manager


def attach_user(session: Session, values: dict[str, Any]) -> User:
    """A persistent, unchanged ``User`` of ``session`` holding ``values`` (every column), as
    if loaded: its attributes filled as a load fills them, not set one by one through the
    constructor's change tracking (issue 18: ~20 µs less for each update of a known user)."""
    user: User = _USER_MANAGER.new_instance()
    instance_state(user).dict.update(values)
    make_transient_to_detached(user)  # the key from the values; all of them committed
    session.add(user)
    return user


class _Table:
    """An LRU of one kind with a generation counter and a time to live."""

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float]) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self.clock = clock
        self.entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.generation = 0

    def get(self, key: Any) -> Any:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[0] < self.clock():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return found[1]

    def put(self, key: Any, value: Any, generation: int) -> None:
        if generation != self.generation:  # written meanwhile: what was read may be old
            return
        now = self.clock()
        self.entries[key] = (now + self.ttl, value)
        self.entries.move_to_end(key)
        # Drop what has expired at the old end, so the memory follows the users of the last
        # ``ttl`` rather than filling to ``maxsize`` (bench_memory: +29 MB over 50,000 questions).
        while self.entries:
            oldest, (expires, _value) = next(iter(self.entries.items()))
            if expires >= now:
                break
            del self.entries[oldest]
        if len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)

    def forget(self, keys: Iterable[Any]) -> None:
        self.generation += 1
        for key in keys:
            if key == ALL:
                self.entries.clear()
                return
            self.entries.pop(key, None)


def of(bind: Any) -> HotCache:
    """The cache of a database: one per engine (an ``Engine``, ``AsyncEngine`` or a session)."""
    if isinstance(bind, AsyncSession):
        bind = bind.sync_session
    if isinstance(bind, Session):
        bind = bind.get_bind()
    if isinstance(bind, AsyncEngine):
        bind = bind.sync_engine
    if isinstance(bind, Connection):
        bind = bind.engine
    cache = _by_engine.get(bind)
    if cache is None:
        cache = _by_engine[bind] = HotCache()
    return cache


class HotCache:
    """Per-process cache of users, "no open ticket", FSM records and the FAQ's version (see the
    module doc)."""

    def __init__(
        self,
        *,
        maxsize: int = 20_000,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tables = {kind: _Table(maxsize, ttl, clock) for kind in (USERS, TICKETS, FSM, FAQ)}
        self._seen = array("q", [-1]) * SEEN_SLOTS  # see seen_user; -1: no id (ids are > 0)
        self.hits = 0
        self.misses = 0
        self.redis: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._origin = f"{id(self)}:{time.time_ns()}"
        self._pings: dict[str, asyncio.Future[None]] = {}
        _caches.add(self)

    # --- generic

    def generation(self, kind: str) -> int:
        return self.tables[kind].generation

    def get(self, kind: str, key: Any) -> Any:
        value = self.tables[kind].get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, kind: str, key: Any, value: Any, generation: int) -> None:
        self.tables[kind].put(key, value, generation)

    def forget(self, kind: str, keys: Iterable[Any]) -> None:
        self.tables[kind].forget(keys)

    def clear(self) -> None:
        for table in self.tables.values():
            table.forget([ALL])

    # --- users

    def user(self, session: Session, user_id: int) -> User | None:
        """The cached user as a persistent instance of ``session`` (no SQL), or None."""
        values = self.get(USERS, user_id)
        if values is None:
            return None
        existing = session.identity_map.get((User, (user_id,), None))
        if existing is not None:
            return existing
        return attach_user(session, values)

    def keep_user(self, user: User, generation: int) -> None:
        self.put(USERS, user.id, {name: getattr(user, name) for name in _USER_COLUMNS}, generation)
        self.saw_user(user.id)

    # A hint, never a fact: ids this process found a row for. A user not in it is tried as a new
    # one first (bot.services.users); either guess is correct, only the number of statements
    # differs. So it may forget: a table of SEEN_SLOTS ids, each id in the slot its low bits
    # name, a newer id taking the slot of an older one — fixed memory (256 KB, allocated with
    # the cache), where a dict of every id seen grew ~1 MB per 12,000 students (bench_memory).

    def seen_user(self, user_id: int) -> bool:
        return self._seen[user_id & _SEEN_MASK] == user_id

    def saw_user(self, user_id: int) -> None:
        self._seen[user_id & _SEEN_MASK] = user_id

    def forget_seen(self, user_id: int) -> None:
        slot = user_id & _SEEN_MASK
        if self._seen[slot] == user_id:
            self._seen[slot] = -1

    # --- shared through Redis

    async def start(self, redis: Redis) -> None:
        """Listen for the other processes' writes (and publish ours) on ``redis``."""
        self.redis = redis
        self._loop = asyncio.get_running_loop()
        self._listener = asyncio.create_task(self._listen(redis), name="hotcache")
        waiter = asyncio.ensure_future(self._subscribed.wait())
        await asyncio.wait([waiter, self._listener], timeout=5, return_when="FIRST_COMPLETED")
        waiter.cancel()

    async def _listen(self, redis: Redis) -> None:
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.clear()  # whatever was missed while not subscribed
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._receive(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hot cache lost its Redis subscription (%s); clearing it", exc)
                self._subscribed.clear()
                self.clear()
                await asyncio.sleep(1.0)

    async def sync(self) -> None:
        """Until every invalidation published before this call has reached this cache: this
        process's own are sent, then a ping of ours comes back after them (Redis delivers a
        channel's messages in order)."""
        if _background:
            await asyncio.gather(*list(_background), return_exceptions=True)
        if self.redis is None:
            return
        token = f"{self._origin}:{time.monotonic_ns()}"
        arrived = asyncio.get_running_loop().create_future()
        self._pings[token] = arrived
        try:
            await self.redis.publish(CHANNEL, json.dumps({"ping": token}))
            await arrived
        finally:
            self._pings.pop(token, None)

    def _receive(self, data: Any) -> None:
        try:
            payload = json.loads(data)
        except (TypeError, ValueError):
            return
        ping = self._pings.get(payload.get("ping"))
        if ping is not None and not ping.done():
            ping.set_result(None)
        if payload.get("origin") == self._origin:
            return
        for kind, keys in payload.get("changed", {}).items():
            if kind in self.tables:
                self.forget(kind, keys)

    def publish(self, changed: dict[str, list[Any]]) -> None:
        if self.redis is None:
            return
        message = json.dumps({"origin": self._origin, "changed": changed})
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # a commit in a worker thread: hand it to the cache's loop
            running = None
        if running is self._loop:
            self._send(message)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._send, message)

    def _send(self, message: str) -> None:
        task = asyncio.ensure_future(self._publish(message))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _publish(self, message: str) -> None:
        assert self.redis is not None
        try:
            await self.redis.publish(CHANNEL, message)
        except Exception as exc:  # the others keep their entries until the ttl
            log.warning("could not publish a hot-cache invalidation: %s", exc)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        _caches.discard(self)


_background: set[asyncio.Future[Any]] = set()


@contextlib.asynccontextmanager
async def announcing(engine: AsyncEngine, redis_url: str | None) -> AsyncIterator[None]:
    """A short-lived writer (a CLI command) publishes what its commits change on Redis, when
    the deployment has one, so the bot processes forget it at once (without Redis they do
    after ``ttl``); the messages are sent before this ends."""
    if not redis_url:
        yield
        return
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    cache = of(engine)
    cache.redis, cache._loop = redis, asyncio.get_running_loop()
    try:
        yield
    finally:
        if _background:
            await asyncio.gather(*list(_background), return_exceptions=True)
        cache.redis = None
        await redis.aclose()


def changed(session: Session, kind: str, keys: Iterable[Any]) -> None:
    """Note that this transaction wrote ``keys`` of ``kind`` (forgotten when it commits)."""
    session.info.setdefault(_CHANGED, {}).setdefault(kind, set()).update(keys)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, User):
            changed(session, USERS, [obj.id])
        elif isinstance(obj, Ticket) and obj.user_id is not None:
            changed(session, TICKETS, [obj.user_id])


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state: Any) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    mapper = state.bind_mapper
    entity = mapper.class_ if mapper is not None else None
    if entity is User and not state.is_insert:  # a new row: nothing cached to forget
        changed(state.session, USERS, [ALL])
    elif entity is Ticket:
        changed(state.session, TICKETS, [ALL])
    elif entity is FsmRecord and not state.is_insert:  # /forget erases a user's every record
        changed(state.session, FSM, [ALL])


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    done: dict[str, set[Any]] | None = session.info.pop(_CHANGED, None)
    if not done:
        return
    for cache in list(_caches):
        for kind, keys in done.items():
            cache.forget(kind, keys)
    published: set[int] = set()
    payload = {kind: sorted(keys, key=str) for kind, keys in done.items()}
    for cache in list(_caches):
        if cache.redis is not None and id(cache.redis) not in published:
            published.add(id(cache.redis))
            cache.publish(payload)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)
