"""The 429 limiter: Telegram's flood limits, overall and per chat, as the fake server applies."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from typing import Any

from devtools.fake_botapi.protocol import BotAPIError


class SendLimiter:
    """Counts send calls and answers 429 with ``retry_after`` when a limit is reached.

    :param per_second: sends allowed within any one second, all chats together (``None``: no
        limit; may be changed while the server runs).
    :param chat_limit: ``(count, seconds)`` for one private chat; ``group_limit`` the same for
        group chats (negative ids).
    :param clock: seconds, monotonic (tests may pass a frozen one).
    """

    def __init__(
        self,
        per_second: int | None = None,
        *,
        chat_limit: tuple[int, float] | None = None,
        group_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.chat_limit = chat_limit
        self.group_limit = group_limit
        self.clock = clock
        self.rate_limited = 0  # 429s answered, for any limit
        self.chat_limited = 0  # of which for a chat's own limit
        self._send_times: collections.deque[float] = collections.deque()
        self._chat_send_times: dict[Any, collections.deque[float]] = {}

    def admit(self, chat_id: Any) -> None:
        """Let one send to ``chat_id`` through, or raise the 429 Telegram would answer."""
        chat_times = self._check_chat_limit(chat_id)
        self._check_rate_limit()
        if chat_times is not None:  # counted only once the send is accepted
            chat_times.append(self.clock())

    def _check_rate_limit(self) -> None:
        limit = self.per_second
        if limit is None:
            return
        now = self.clock()
        while self._send_times and self._send_times[0] <= now - 1.0:
            self._send_times.popleft()
        if len(self._send_times) >= limit:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(self._send_times[0] + 1.0 - now))
            raise BotAPIError(429, retry_after=retry_after)
        self._send_times.append(now)

    def _check_chat_limit(self, chat_id: Any) -> collections.deque[float] | None:
        """429 when the chat's own limit is reached; else the chat's send times to append to."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if not isinstance(chat_id, int):
            return None
        limit = self.chat_limit if chat_id > 0 else self.group_limit
        if limit is None:
            return None
        count, window = limit
        now = self.clock()
        times = self._chat_send_times.setdefault(chat_id, collections.deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= count:
            self.rate_limited += 1
            self.chat_limited += 1
            retry_after = max(1, math.ceil(times[0] + window - now))
            raise BotAPIError(429, retry_after=retry_after)
        return times
