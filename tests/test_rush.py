"""A deadline rush on the embedded default (wizard state in the database, no Redis): 40 users
at the same moment doing mixed things — /start, questions, /rules, /profile, the /apply wizard
and an admin's broadcast — get every reply, none of them an error.

Issue 17: before, 16–20 such users exhausted the connection pool (the FSM storage opened
sessions beside the update's own), SQLite said "database is locked", replies took 13 s and
some were "Something went wrong". The figures (60 s, 50 users) are ``bench/bench_rush.py``'s.
"""

from __future__ import annotations

from bot.config import Settings
from devtools.rush import rush


async def test_forty_users_at_once_get_every_reply_and_no_error(database_url: str) -> None:
    settings = Settings(database_url=database_url, redis_url=None, _env_file=None)  # type: ignore[call-arg]
    result = await rush(settings, users=40, seconds=6, reply_timeout=20)
    # (how many actions fit in 6 s depends on the machine's load; every user made at least two)
    assert result.actions >= 2 * 40, result.lines()
    assert result.error_replies == 0, result.lines()
    assert result.lost == 0, result.lines()
    assert result.locked == 0 and result.logged_errors == 0, result.lines()
    assert result.broadcasts == 1 and result.broadcast_delivered >= 40, result.lines()
