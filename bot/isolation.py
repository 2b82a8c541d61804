"""Event isolation without Redis: one chat's updates one at a time, and no lock kept after.

aiogram's ``SimpleEventIsolation`` keeps a lock per chat and user in a dict it never prunes
(its own TODO says so): a lock and a ``StorageKey`` for every student who ever wrote, for the
life of the process. :class:`PerKeyIsolation` serialises the same way, and forgets a key's
lock as soon as no update of that key holds or awaits it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # updates holding or awaiting the lock


class PerKeyIsolation(BaseEventIsolation):
    """Updates of one key (chat, user, thread) handled one at a time; memory only while busy."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, _Entry] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(key) is entry:
                del self._locks[key]

    def __len__(self) -> int:
        """Keys with an update in flight (for tests and diagnostics)."""
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()
